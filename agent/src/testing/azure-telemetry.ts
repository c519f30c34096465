/**
 * The Azure PdM telemetry of models/data, per machine, as the replay source hands readings over: CSV
 * strings, in time order. For tests that need a real sensor stream (feature rows, outbox payloads).
 */
import { readFileSync } from 'node:fs';
import type { RawReading } from '../sources/source.js';
import { parseEventTime } from '../sources/time.js';

const TELEMETRY = new URL('../../../models/data/azure-pdm/PdM_telemetry_machines1-15_2015-01-01_to_2015-04-01.csv', import.meta.url);

export interface AzureTelemetryOptions {
  /** machineID values to keep; all when absent. */
  readonly machines?: readonly string[];
  /** The first this many hours of each machine; all when absent. */
  readonly hoursPerMachine?: number;
}

/** Readings of `signals` by machineID, machines in the order they first appear in the file. */
export function azureTelemetry(signals: readonly string[], options: AzureTelemetryOptions = {}): Map<string, RawReading[]> {
  const [header, ...lines] = readFileSync(TELEMETRY, 'utf8').trim().split('\n');
  const cols = header!.split(',');
  const idCol = cols.indexOf('machineID');
  const timeCol = cols.indexOf('datetime');
  const limit = options.hoursPerMachine ?? Infinity;
  const byMachine = new Map<string, RawReading[]>();
  for (const line of lines) {
    const cells = line.split(',');
    const id = cells[idCol]!;
    const list = byMachine.get(id) ?? [];
    if ((options.machines !== undefined && !options.machines.includes(id)) || list.length >= limit) continue;
    list.push({ time: parseEventTime(cells[timeCol]!)!, values: Object.fromEntries(signals.map((s) => [s, cells[cols.indexOf(s)]])) });
    byMachine.set(id, list);
  }
  return byMachine;
}

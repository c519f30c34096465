/**
 * The Azure PdM sample (models/data/azure-pdm, see its PROVENANCE.md): hourly telemetry of machines
 * 1-15 (Jan-Mar 2015) and the failure log of the whole fleet. Timestamps carry no zone; they are read
 * as UTC so that hour arithmetic never meets a daylight-saving jump.
 */
import { join } from 'node:path';
import { PdmError, type LogEntry } from '@pdm/protocol';
import { column, numberColumn, readCsv } from './csv.js';

export const AZURE_TELEMETRY_FILE = 'PdM_telemetry_machines1-15_2015-01-01_to_2015-04-01.csv';
export const AZURE_SIGNALS = ['volt', 'rotate', 'pressure', 'vibration'] as const;
export const HOUR_MS = 3_600_000;

export interface TelemetryRow {
  machineId: number;
  /** Epoch milliseconds (UTC). */
  time: number;
  values: Record<(typeof AZURE_SIGNALS)[number], number>;
}

export interface FailureRecord {
  machineId: number;
  time: number;
  component: string;
}

/** One failure event: a machine failing at one hour, whatever number of components were replaced. */
export interface FailureEvent {
  machineId: number;
  time: number;
  components: string[];
}

export interface AzureData {
  /** Telemetry per machine id, in time order. */
  telemetry: Map<number, TelemetryRow[]>;
  failures: FailureRecord[];
  events: FailureEvent[];
}

export function parseAzureTime(text: string): number {
  const time = Date.parse(`${text.replace(' ', 'T')}Z`);
  if (!/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(text) || Number.isNaN(time)) {
    throw new PdmError('INTERNAL', `not an Azure PdM timestamp (YYYY-MM-DD HH:MM:SS): "${text}"`);
  }
  return time;
}

export function loadAzureTelemetry(path: string): Map<number, TelemetryRow[]> {
  const byMachine = new Map<number, TelemetryRow[]>();
  readCsv(path).forEach((row, i) => {
    const where = `${path} row ${i + 2}`;
    const machineId = numberColumn(row, 'machineID', where);
    const values = {
      volt: numberColumn(row, 'volt', where),
      rotate: numberColumn(row, 'rotate', where),
      pressure: numberColumn(row, 'pressure', where),
      vibration: numberColumn(row, 'vibration', where),
    };
    const rows = byMachine.get(machineId) ?? [];
    rows.push({ machineId, time: parseAzureTime(column(row, 'datetime', where)), values });
    byMachine.set(machineId, rows);
  });
  for (const rows of byMachine.values()) rows.sort((a, b) => a.time - b.time);
  return byMachine;
}

export function loadAzureFailures(path: string): FailureRecord[] {
  return readCsv(path).map((row, i) => {
    const where = `${path} row ${i + 2}`;
    return {
      machineId: numberColumn(row, 'machineID', where),
      time: parseAzureTime(column(row, 'datetime', where)),
      component: column(row, 'failure', where),
    };
  });
}

/** Groups component failures of one machine at one hour into one event, sorted by machine then time. */
export function failureEvents(failures: readonly FailureRecord[]): FailureEvent[] {
  const byKey = new Map<string, FailureEvent>();
  for (const f of failures) {
    const key = `${f.machineId}@${f.time}`;
    const event = byKey.get(key) ?? { machineId: f.machineId, time: f.time, components: [] };
    event.components.push(f.component);
    byKey.set(key, event);
  }
  return [...byKey.values()].sort((a, b) => a.machineId - b.machineId || a.time - b.time);
}

export function loadAzureData(dir: string): AzureData {
  const failures = loadAzureFailures(join(dir, 'PdM_failures.csv'));
  return { telemetry: loadAzureTelemetry(join(dir, AZURE_TELEMETRY_FILE)), failures, events: failureEvents(failures) };
}

/**
 * The machines' logs for the log signals (`errors_<code>`, `hours_since_<component>`): error records
 * and maintenance records (which include the replacements made at a failure), per machine in time
 * order. Maintenance from 2014 is kept: a component's last replacement is often months before the
 * telemetry starts.
 */
export function loadAzureLogs(dir: string): Map<number, LogEntry[]> {
  const logs = new Map<number, LogEntry[]>();
  const add = (file: string, kind: LogEntry['kind'], codeColumn: string): void => {
    const path = join(dir, file);
    readCsv(path).forEach((row, i) => {
      const where = `${path} row ${i + 2}`;
      const machineId = numberColumn(row, 'machineID', where);
      const entries = logs.get(machineId) ?? [];
      entries.push({ time: parseAzureTime(column(row, 'datetime', where)), kind, code: column(row, codeColumn, where) });
      logs.set(machineId, entries);
    });
  };
  add('PdM_errors.csv', 'error', 'errorID');
  add('PdM_maint.csv', 'maintenance', 'comp');
  // stable: at one hour, errors stay before maintenance as loaded
  for (const entries of logs.values()) entries.sort((a, b) => a.time - b.time);
  return logs;
}

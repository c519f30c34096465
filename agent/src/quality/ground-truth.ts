/**
 * Ground truth entered by people or a CMMS at the controller, delivered as `machine-event` commands.
 * Each event is recorded once per eventId, also across restarts: the controller resends an event until
 * the device has answered, so a repeat must not become a second record. The event is committed to the
 * outbox as a machine event record (source operator or cmms) before its id is remembered; a crash in
 * between can only repeat the record, which the controller counts once (its own event table is the
 * record of what people entered). A failure also reaches the quality monitor.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { PdmError, type Command } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Counters } from '../metrics/counters.js';
import type { Outbox } from '../outbox/outbox.js';

export type MachineEventCommand = Extract<Command, { type: 'machine-event' }>['event'];

/** Where failures go besides the outbox (the quality monitor). */
export interface FailureSink {
  failure(at: number, key: string): void;
}

export interface GroundTruthDeps {
  readonly assetId: string;
  /** File remembering recorded event ids (JSON array, newest last). */
  readonly file: string;
  readonly outbox: Outbox;
  readonly failures: FailureSink | undefined;
  readonly counters: Counters;
  readonly clock: Clock;
  readonly log: Logger;
  /** How many event ids to remember. */
  readonly memory?: number;
}

export const GROUND_TRUTH_FILE = 'ground-truth-ids.json';
const idsSchema = z.array(z.string().min(1).max(64));

export class GroundTruth {
  private ids = new Set<string>();

  constructor(private readonly deps: GroundTruthDeps) {}

  start(): void {
    const { file, log } = this.deps;
    if (!existsSync(file)) return;
    const parsed = idsSchema.safeParse(safeJson(readFileSync(file, 'utf8')));
    if (parsed.success) this.ids = new Set(parsed.data);
    // an unreadable file only costs duplicate records, which the controller counts once
    else log.warn({ file }, 'recorded event ids unreadable; starting afresh');
  }

  stop(): void {}

  /** Records one event; answers a repeated eventId without recording it again. */
  record(event: MachineEventCommand): Record<string, unknown> {
    const { assetId, outbox, failures, counters, clock, log } = this.deps;
    if (event.assetId !== assetId) {
      throw new PdmError('PAYLOAD_INVALID', `event is for asset "${event.assetId}"; this device watches "${assetId}"`, {
        context: { eventId: event.eventId, assetId: event.assetId },
      });
    }
    if (this.ids.has(event.eventId)) return { eventId: event.eventId, recorded: false, duplicate: true };
    const [entry] = outbox.commit([
      {
        kind: 'events',
        record: {
          time: new Date(clock.now()).toISOString(),
          assetId,
          type: event.type,
          at: event.at,
          source: event.source,
          ...(event.component === undefined ? {} : { component: event.component }),
          ...(event.cause === undefined ? {} : { cause: event.cause }),
          ...(event.note === undefined ? {} : { note: event.note }),
        },
      },
    ]);
    counters.events++;
    this.remember(event.eventId);
    if (event.type === 'failure') failures?.failure(Date.parse(event.at), `event:${event.eventId}`);
    log.info({ eventId: event.eventId, type: event.type, at: event.at, seq: entry?.seq }, 'machine event recorded');
    return { eventId: event.eventId, recorded: true, seq: entry?.seq };
  }

  private remember(id: string): void {
    this.ids.add(id);
    const max = this.deps.memory ?? 10_000;
    while (this.ids.size > max) this.ids.delete(this.ids.values().next().value!);
    writeAtomically(this.deps.file, JSON.stringify([...this.ids]));
  }
}

export const groundTruthFile = (dataDir: string): string => join(dataDir, GROUND_TRUTH_FILE);

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Temp file, fsync, rename: a reader sees the old list or the new one, never a torn file. */
function writeAtomically(file: string, text: string): void {
  const tmp = join(dirname(file), `.${GROUND_TRUTH_FILE}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

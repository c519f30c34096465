/**
 * Where a replay stopped, so that a restarted agent goes on from there like a real sensor instead of
 * sending the past again (predictions, events and quality windows for time already covered, which the
 * controller would count twice). The position is the event time of the last reading whose results
 * the pipeline committed to the outbox and how many readings at exactly that time it took; it is written
 * (atomically) only after that commit, so a row skipped on restart is never one whose records were not
 * durable. Writes are at most one per second plus one at stop: after a kill -9 the file lags by up to a
 * second, so the position committed with the outbox's records (`durable`, the feature-window snapshot,
 * which also knows the last machine event) is preferred; without one, up to a second of rows and its
 * events are replayed again (sent twice, never lost).
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { sameMark, type Mark, type ResumePoint } from '../features/window-tail.js';
import { readJsonFile, writeJsonAtomic } from '../store/atomic.js';

export const REPLAY_POSITION_FILE = 'replay-position.json';
const SAVE_INTERVAL_MS = 1000;

const positionSchema = z.strictObject({
  schemaVersion: z.literal(1),
  /** What was replayed: a position holds only for the same file and filter. */
  source: z.string(),
  time: z.iso.datetime(),
  /**
   * Rows taken from the first at exactly `time`: the readings at that time and the rows of no usable time
   * read after them (counted so that a resume skips them too). Absent in files of earlier versions: 1 (a
   * second row at that time is sent again).
   */
  rowsAtTime: z.number().int().positive().optional(),
});

export interface ReplayPositionDeps {
  /** The position file (in the agent's data directory). */
  readonly file: string;
  /** The replayed file and filter, e.g. "telemetry.csv machineID=3". */
  readonly source: string;
  /**
   * The position committed in the outbox with the last records (features/window-tail.ts): exact after a
   * crash, where the file lags by up to a second, and the one the restored feature windows agree with.
   * Preferred to the file's when there is one.
   */
  readonly durable?: () => ResumePoint | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

export class ReplayPosition {
  private committed: Mark | undefined;
  private saved: Mark | undefined;
  private lastSave = Number.NEGATIVE_INFINITY;
  private resumed: ResumePoint | undefined;

  constructor(private readonly deps: ReplayPositionDeps) {}

  /** Where `load` told the source to resume; undefined before, or from the first row. */
  get resumedAfter(): ResumePoint | undefined {
    return this.resumed;
  }

  /** Where to resume, or undefined to start at the first row. */
  load(): ResumePoint | undefined {
    const fromFile = this.fromFile();
    const durable = this.deps.durable?.();
    if (durable !== undefined && durable.readings.time !== fromFile?.time) {
      const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());
      this.deps.log.info({ file: iso(fromFile?.time), committed: iso(durable.readings.time) }, 'replay position taken from the last outbox commit');
    }
    this.resumed = durable ?? (fromFile === undefined ? undefined : { readings: fromFile, events: undefined });
    this.committed = this.resumed?.readings;
    return this.resumed;
  }

  private fromFile(): Mark | undefined {
    const { file, source, log } = this.deps;
    let stored: z.output<typeof positionSchema> | undefined;
    try {
      stored = readJsonFile(file, positionSchema);
    } catch (err) {
      // written atomically, so only tampering or a broken disk gets here: replaying again is the safe side
      log.warn({ err, file }, 'replay position unreadable; starting from the first row');
      return undefined;
    }
    if (stored === undefined) return undefined;
    if (stored.source !== source) {
      log.warn({ file, stored: stored.source, source }, 'replay position is for another source; starting from the first row');
      return undefined;
    }
    this.saved = { time: Date.parse(stored.time), count: stored.rowsAtTime ?? 1 };
    return this.saved;
  }

  /** Every reading up to `through` has its results committed; written at most once a second. */
  committedThrough(through: Mark): void {
    this.committed = through;
    if (this.deps.clock.monotonic() - this.lastSave >= SAVE_INTERVAL_MS) this.save();
  }

  /** Writes the last committed position (at stop, after the pipeline's final commit). */
  save(): void {
    const { committed } = this;
    if (committed === undefined || sameMark(committed, this.saved)) return;
    this.lastSave = this.deps.clock.monotonic();
    try {
      const time = new Date(committed.time).toISOString();
      writeJsonAtomic(this.deps.file, { schemaVersion: 1, source: this.deps.source, time, rowsAtTime: committed.count });
      this.saved = committed;
    } catch (err) {
      // the position only saves re-sending; failing to write it must not stop the data path
      this.deps.log.warn({ err, file: this.deps.file }, 'replay position not written');
    }
  }
}

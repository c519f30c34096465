/**
 * Where a replay stopped, so that a restarted agent goes on from there like a real sensor instead of
 * sending the past again (predictions, events and quality windows for time already covered, which the
 * controller would count twice). The position is the event time of the last reading whose results
 * the pipeline committed to the outbox; it is written (atomically) only after that commit, so a row
 * skipped on restart is never one whose records were not durable. Writes are at most one per second
 * plus one at stop: after a kill -9 the file lags by up to a second, so the position committed with the
 * outbox's records (`durable`, the feature-window snapshot) is preferred; without one, up to a second of
 * rows is replayed again (sent twice, never lost).
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { readJsonFile, writeJsonAtomic } from '../store/atomic.js';

export const REPLAY_POSITION_FILE = 'replay-position.json';
const SAVE_INTERVAL_MS = 1000;

const positionSchema = z.strictObject({
  schemaVersion: z.literal(1),
  /** What was replayed: a position holds only for the same file and filter. */
  source: z.string(),
  time: z.iso.datetime(),
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
  readonly durable?: () => number | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

export class ReplayPosition {
  private committed: number | undefined;
  private saved: number | undefined;
  private lastSave = Number.NEGATIVE_INFINITY;
  private resumed: number | undefined;

  constructor(private readonly deps: ReplayPositionDeps) {}

  /** Where `load` told the source to resume: the event time it goes on after; undefined before, or from the first row. */
  get resumedAfter(): number | undefined {
    return this.resumed;
  }

  /** The event time to resume after, or undefined to start at the first row. */
  load(): number | undefined {
    const fromFile = this.fromFile();
    const durable = this.deps.durable?.();
    if (durable !== undefined && durable !== fromFile) {
      const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());
      this.deps.log.info({ file: iso(fromFile), committed: iso(durable) }, 'replay position taken from the last outbox commit');
    }
    this.resumed = durable ?? fromFile;
    this.committed = this.resumed;
    return this.resumed;
  }

  private fromFile(): number | undefined {
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
    this.saved = Date.parse(stored.time);
    return this.saved;
  }

  /** Every reading up to `time` has its results committed; written at most once a second. */
  committedThrough(time: number): void {
    this.committed = time;
    if (this.deps.clock.monotonic() - this.lastSave >= SAVE_INTERVAL_MS) this.save();
  }

  /** Writes the last committed position (at stop, after the pipeline's final commit). */
  save(): void {
    if (this.committed === undefined || this.committed === this.saved) return;
    this.lastSave = this.deps.clock.monotonic();
    try {
      writeJsonAtomic(this.deps.file, { schemaVersion: 1, source: this.deps.source, time: new Date(this.committed).toISOString() });
      this.saved = this.committed;
    } catch (err) {
      // the position only saves re-sending; failing to write it must not stop the data path
      this.deps.log.warn({ err, file: this.deps.file }, 'replay position not written');
    }
  }
}

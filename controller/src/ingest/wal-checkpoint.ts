/**
 * WAL checkpoints of the record writer's connection: SQLite's autocheckpoint at `checkpointAt` pages
 * instead of its default 1000, and a PASSIVE checkpoint when the writer has been idle for a while.
 *
 * Why: the autocheckpoint runs inside the COMMIT that passes it; at 1000 pages that came every
 * ~4,000 records of the bench mix and copied the same hot pages (index leaves of every device,
 * progress, counters) again each time. At 10,000 pages the in-process store took less CPU per record
 * (bench/RESULTS.md, "Controller ingest"), for a WAL of up to ~40 MB and a longer checkpoint when it
 * comes. The controller's own connection keeps a higher bound still (WAL_BACKSTOP_PAGES), so that its
 * commits do not run the checkpoints ingest left on the controller's event loop.
 *
 * Not done: reading the WAL's page count from the -shm file to checkpoint after a batch's reply
 * instead of inside its COMMIT. Closing any descriptor of that file drops every POSIX lock this
 * process holds on it, SQLite's included (https://www.sqlite.org/howtocorrupt.html, 2.2): a trial
 * that did so hung ingest in bench:ingest.
 *
 * Durability is untouched: a committed transaction is in the WAL whether or not it was copied into
 * the database file, and PASSIVE never waits for or blocks readers or writers.
 */
import type { Db } from '../db/database.js';

export interface WalCheckpointOptions {
  /** The writer connection's autocheckpoint, in WAL pages. */
  readonly checkpointAt: number;
  /** A writer with no batch for this long, ms, checkpoints what the WAL holds. */
  readonly idleMs: number;
}

export const DEFAULT_WAL_CHECKPOINT: WalCheckpointOptions = Object.freeze({ checkpointAt: 10_000, idleMs: 1000 });

/** What one checkpoint did (PRAGMA wal_checkpoint's row). */
export interface CheckpointResult {
  /** 1 when a lock kept it from finishing (another checkpoint ran). */
  readonly busy: number;
  /** Pages in the WAL. */
  readonly log: number;
  /** Pages of those now in the database file. */
  readonly checkpointed: number;
}

export class WalCheckpointer {
  readonly #db: Db;
  readonly #options: WalCheckpointOptions;
  #timer: NodeJS.Timeout | undefined;
  /** A batch was written since the idle timer last looked. */
  #busy = false;

  constructor(db: Db, options: WalCheckpointOptions = DEFAULT_WAL_CHECKPOINT) {
    this.#db = db;
    this.#options = options;
  }

  /** Sets the connection's autocheckpoint and starts the idle timer; the database must be in WAL mode. */
  start(): void {
    this.#db.pragma(`wal_autocheckpoint = ${this.#options.checkpointAt}`);
    this.#timer = setInterval(() => this.#idle(), this.#options.idleMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Called after each batch: the writer is not idle. */
  afterBatch(): void {
    this.#busy = true;
  }

  checkpoint(): CheckpointResult {
    const [row] = this.#db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[];
    return row!;
  }

  /**
   * An idle writer's WAL is copied into the database file, so that it is started over by the next
   * writer; cheap when it was copied already (nothing to do, no fsync).
   */
  #idle(): void {
    const busy = this.#busy;
    this.#busy = false;
    if (busy) return;
    try {
      this.checkpoint();
    } catch {
      // the next tick or the autocheckpoint tries again; a checkpoint loses nothing by waiting
    }
  }
}

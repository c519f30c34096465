/**
 * WAL checkpoints of the record writer's connection, run after a batch's outcomes were handed back
 * instead of inside its COMMIT.
 *
 * Why: SQLite's autocheckpoint (1000 pages by default) runs inside the COMMIT that passes it, so the
 * batch's PUBACKs waited for the page copies and the two fsyncs of every checkpoint, and checkpoints
 * that came every ~4,000 records copied the same hot pages (index leaves of 20 devices, progress,
 * counters) again each time. Here the writer's connection runs no autocheckpoint of its own below a
 * backstop; `afterBatch()`, called once the batch's reply has gone out, runs a PASSIVE checkpoint when
 * the WAL has reached `checkpointAt` pages, and a timer checkpoints what an idle writer left.
 * bench/RESULTS.md ("Controller ingest"): checkpointing every ~10,000 pages instead of every 1,000 cut
 * the in-process store's CPU per record.
 *
 * Durability is untouched: a committed transaction is in the WAL whether or not it was copied into
 * the database file, and PASSIVE never waits for or blocks readers or writers. The WAL stays bounded:
 * a PASSIVE checkpoint copies what no reader still needs, the next writer then starts the WAL over,
 * and the connection's autocheckpoint stays on at `backstopAt` pages in case these checkpoints do not
 * run (a writer that never asks) or cannot keep up.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { WAL_BACKSTOP_PAGES, type Db } from '../db/database.js';

export interface WalCheckpointOptions {
  /** WAL pages at which a batch is followed by a checkpoint (SQLite's autocheckpoint measure). */
  readonly checkpointAt: number;
  /** The connection's own autocheckpoint, as a bound should these checkpoints not run. */
  readonly backstopAt: number;
  /** How often an idle writer's leftover WAL pages are checkpointed, ms. */
  readonly idleMs: number;
  /** WAL pages an idle writer may leave uncopied (SQLite's default autocheckpoint). */
  readonly idleAt: number;
}

export const DEFAULT_WAL_CHECKPOINT: WalCheckpointOptions = Object.freeze({
  checkpointAt: 10_000, backstopAt: WAL_BACKSTOP_PAGES, idleMs: 1000, idleAt: 1000,
});

/** What one checkpoint did (PRAGMA wal_checkpoint's row). */
export interface CheckpointResult {
  /** 1 when a lock kept it from finishing (another checkpoint ran). */
  readonly busy: number;
  /** Pages in the WAL. */
  readonly log: number;
  /** Pages of those now in the database file. */
  readonly checkpointed: number;
}

/**
 * The WAL-index header in the -shm file (https://www.sqlite.org/walformat.html, "The WAL-Index
 * Header"): two copies of a 48-byte header, then the checkpoint info. mxFrame (the WAL's last valid
 * frame) is a u32 at byte 16, nBackfill (frames already copied) a u32 at byte 96, both in the
 * machine's byte order. Read without SQLite's locks: a value torn by a concurrent commit only moves a
 * checkpoint by one batch, which the backstop bounds anyway.
 */
const MX_FRAME_AT = 16;
const N_BACKFILL_AT = 96;

export class WalCheckpointer {
  readonly #db: Db;
  readonly #options: WalCheckpointOptions;
  #timer: NodeJS.Timeout | undefined;
  /** A batch was written since the idle timer last looked. */
  #busy = false;
  readonly #header = Buffer.alloc(N_BACKFILL_AT + 4);

  constructor(db: Db, options: WalCheckpointOptions = DEFAULT_WAL_CHECKPOINT) {
    this.#db = db;
    this.#options = options;
  }

  /** Sets the connection's backstop and starts the idle timer; the database must be in WAL mode. */
  start(): void {
    this.#db.pragma(`wal_autocheckpoint = ${this.#options.backstopAt}`);
    this.#timer = setInterval(() => this.#idle(), this.#options.idleMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * The WAL's pages (`log`) and those of them not yet copied into the database file (`pending`); both
   * 0 when there is no WAL-index yet.
   */
  walPages(): { log: number; pending: number } {
    // opened per read (a few microseconds per batch): an fd kept open would outlive a worker thread that died
    const read = readShm(this.#db.name, this.#header);
    if (read < this.#header.length) return { log: 0, pending: 0 };
    const u32 = endianness() === 'LE' ? 'readUInt32LE' : 'readUInt32BE';
    const log = this.#header[u32](MX_FRAME_AT);
    return { log, pending: Math.max(0, log - this.#header[u32](N_BACKFILL_AT)) };
  }

  /**
   * After a batch's reply went out: a checkpoint when the WAL has reached `checkpointAt` pages and
   * some are not copied yet. On the WAL's length, not on what is left to copy, as SQLite's
   * autocheckpoint: a reader's snapshot can keep a checkpoint from copying everything, and only a WAL
   * copied whole is started over by the next writer, so the checkpoint is tried again after each
   * batch (copying only what came since) until the WAL starts over.
   */
  afterBatch(): CheckpointResult | undefined {
    this.#busy = true;
    const { log, pending } = this.walPages();
    return log >= this.#options.checkpointAt && pending > 0 ? this.checkpoint() : undefined;
  }

  checkpoint(): CheckpointResult {
    const [row] = this.#db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[];
    return row!;
  }

  /** A writer with no batch for a timer period leaves a WAL of at most `idleAt` pages uncopied. */
  #idle(): void {
    const busy = this.#busy;
    this.#busy = false;
    if (busy) return;
    try {
      const { log, pending } = this.walPages();
      if (log >= this.#options.idleAt && pending > 0) this.checkpoint();
    } catch {
      // the next tick, a batch or the backstop tries again; a checkpoint loses nothing by waiting
    }
  }
}

/** Reads the start of the database's -shm file into `into`; 0 bytes when there is none (no WAL, or in memory). */
function readShm(file: string, into: Buffer): number {
  let fd: number;
  try {
    fd = openSync(`${file}-shm`, 'r');
  } catch {
    return 0;
  }
  try {
    return readSync(fd, into, 0, into.length, 0);
  } finally {
    closeSync(fd);
  }
}

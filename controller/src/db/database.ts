/**
 * The controller's SQLite database: one file in the data directory, WAL mode, migrated at start.
 *
 * Durability: synchronous=NORMAL. In WAL mode that survives a crash of this process (measured:
 * PLATFORM.md) and can lose the last transactions only on an OS crash or power cut. Everything the
 * controller stores from devices is also held in the devices' outboxes until delivered, and
 * reconciliation re-asks devices for their state, so NORMAL's ~10x write rate over FULL is the better
 * trade here. Rollout state (a later migration) may want FULL for its own transactions.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { PdmError } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import { currentVersion, defaultMigrationsDir, migrate } from './migrate.js';

export interface DatabaseOptions {
  dataDir: string;
  /** File name inside dataDir. */
  fileName?: string;
  migrationsDir?: string;
}

export type Db = BetterSqlite3.Database;

/**
 * The autocheckpoint of the controller's connection, in WAL pages: a bound, not the schedule. The
 * record writer's connection checkpoints at 10,000 pages and when idle (ingest/wal-checkpoint.ts); at
 * SQLite's default (1000 pages) this connection's own commits would run those checkpoints on the
 * controller's event loop instead whenever ingest left more than 1000 pages behind. When records are
 * stored in process (an in-memory database, or no built worker: ingest/record-sink.ts), this connection
 * is the record writer and its WalCheckpointer sets it to the writer's 10,000 pages at start.
 */
export const WAL_BACKSTOP_PAGES = 40_000;

type TransactionBody = Parameters<Db['transaction']>[0];
/** The transaction as a function: the body's parameters and result. */
export type TransactionFn<F extends TransactionBody> = BetterSqlite3.Transaction<F>['immediate'];

/**
 * A transaction that writes: BEGIN IMMEDIATE. Every write transaction of the controller goes through
 * here. Why: two connections write this file (the controller's and the ingest worker's), and in WAL
 * mode a deferred transaction that has read and then writes while the other connection holds the
 * write lock fails at once with SQLITE_BUSY_SNAPSHOT: the busy timeout is not consulted for that
 * upgrade, as waiting cannot help a transaction whose snapshot is out of date. IMMEDIATE takes the
 * write lock at BEGIN, before reading, where the busy timeout applies. Called inside another
 * transaction it is a savepoint of that one (better-sqlite3). Build it once for a hot path.
 */
export function writeTransaction<F extends TransactionBody>(db: Db, fn: F): TransactionFn<F> {
  return db.transaction(fn).immediate;
}

/**
 * A transaction that only reads (deferred BEGIN): one consistent snapshot for several statements,
 * without taking the write lock. A write inside would fail at once when the other connection holds
 * the lock: use writeTransaction() for that.
 */
export function readTransaction<F extends TransactionBody>(db: Db, fn: F): TransactionFn<F> {
  return db.transaction(fn).deferred;
}

export class Database {
  readonly #options: DatabaseOptions;
  readonly #log: Logger;
  #db: Db | undefined;

  constructor(options: DatabaseOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
  }

  get file(): string {
    return join(this.#options.dataDir, this.#options.fileName ?? 'controller.db');
  }

  async start(): Promise<void> {
    mkdirSync(this.#options.dataDir, { recursive: true });
    const db = new BetterSqlite3(this.file);
    try {
      // Another writer holds the lock now and then: the ingest worker's connection (record-worker.ts,
      // committing a record batch every ~100 ms), another controller of the group, an operator's
      // sqlite3 shell. Give them a moment instead of failing at once; writeTransaction() makes sure a
      // write waits at BEGIN, where this timeout applies. Set first: switching to WAL takes a lock too.
      db.pragma('busy_timeout = 2000');
      await switchToWal(db);
      db.pragma('synchronous = NORMAL');
      db.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
      db.pragma('foreign_keys = ON');
      migrate(db, this.#options.migrationsDir ?? defaultMigrationsDir, this.#log);
    } catch (err) {
      db.close();
      throw err;
    }
    this.#db = db;
    this.#log.info({ file: this.file, schemaVersion: currentVersion(db) }, 'database open');
  }

  async stop(): Promise<void> {
    if (this.#db === undefined) return;
    this.#db.close();
    this.#db = undefined;
    this.#log.info({ file: this.file }, 'database closed');
  }

  get handle(): Db {
    if (this.#db === undefined) throw new PdmError('INTERNAL', 'database is not open');
    return this.#db;
  }

  health(): { ok: boolean; detail?: string } {
    if (this.#db === undefined) return { ok: false, detail: 'not open' };
    try {
      this.#db.prepare('SELECT 1').get();
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }
}

/**
 * `PRAGMA journal_mode = WAL` on a new file that another process is opening at the same moment can
 * answer SQLITE_BUSY at once, without waiting for the busy timeout (seen with four controllers starting
 * together): try again for as long as the busy timeout would have waited.
 */
async function switchToWal(db: BetterSqlite3.Database, waitMs = 2000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40));
    }
  }
}

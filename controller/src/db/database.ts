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
      // HTTP reads and ingest writes share this one connection in one thread, so waits come only from
      // other processes (another controller of the group, an operator's sqlite3 shell): give them a
      // moment instead of failing at once. Set first: switching to WAL takes a lock too.
      db.pragma('busy_timeout = 2000');
      await switchToWal(db);
      db.pragma('synchronous = NORMAL');
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

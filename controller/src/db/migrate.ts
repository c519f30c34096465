/**
 * Numbered migrations: `NNN_name.sql` files applied in order, each in its own transaction together
 * with its row in `schema_version`, so a failed migration leaves the database at the previous version.
 * A database newer than this program (a downgrade) is refused rather than guessed at.
 *
 * Controllers that share one database (scale-out) may start at the same instant: each migration runs
 * in a BEGIN IMMEDIATE transaction that reads the version again under the write lock, so the second
 * process waits (busy timeout), then finds the migration applied and skips it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type BetterSqlite3 from 'better-sqlite3';
import { PdmError } from '@pdm/protocol';
import type { Logger } from '../logger.js';

/**
 * The .sql files live beside the sources. tsc does not copy them into dist/, so both src/db/migrate.ts
 * and dist/db/migrate.js point at the one folder in src/ (the package keeps src/ for this reason).
 */
export const defaultMigrationsDir = fileURLToPath(new URL('../../src/db/migrations/', import.meta.url));

const FILE_PATTERN = /^(\d{3})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir: string): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_PATTERN.exec(file);
    if (m === null) {
      throw new PdmError('DB_MIGRATION_FAILED', 'migration file name must be NNN_name.sql', { context: { file } });
    }
    migrations.push({ version: Number(m[1]), name: m[2]!, sql: readFileSync(`${dir}/${file}`, 'utf8') });
  }
  migrations.forEach((mig, i) => {
    if (mig.version !== i + 1) {
      throw new PdmError('DB_MIGRATION_FAILED', 'migrations must be numbered 001, 002, ... without gaps or repeats', {
        context: { expected: i + 1, found: mig.version, name: mig.name },
      });
    }
  });
  return migrations;
}

export function currentVersion(db: BetterSqlite3.Database): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/** Applies the pending migrations; returns the versions applied (empty when already up to date). */
export function migrate(db: BetterSqlite3.Database, dir: string, log: Logger): number[] {
  const migrations = readMigrations(dir);
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const latest = migrations.length;
  const record = db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)');
  /** Under the write lock: the next migration this database lacks, applied; undefined when none is left. */
  const applyNext = db.transaction((): Migration | undefined => {
    const from = currentVersion(db);
    if (from > latest) {
      throw new PdmError('DB_MIGRATION_FAILED', 'database schema is newer than this controller', {
        context: { databaseVersion: from, knownVersion: latest },
      });
    }
    const mig = migrations[from];
    if (mig === undefined) return undefined;
    try {
      db.exec(mig.sql);
      record.run(mig.version, mig.name, Date.now());
    } catch (cause) {
      throw new PdmError('DB_MIGRATION_FAILED', `migration ${mig.version} (${mig.name}) failed`, {
        cause, context: { version: mig.version, name: mig.name, reason: (cause as Error).message },
      });
    }
    return mig;
  });
  const applied: number[] = [];
  for (let mig = applyNext.immediate(); mig !== undefined; mig = applyNext.immediate()) {
    applied.push(mig.version);
    log.info({ version: mig.version, name: mig.name }, 'migration applied');
  }
  return applied;
}

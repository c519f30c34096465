import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isPdmError } from '@pdm/protocol';
import { captureLogs } from '../testing/log-capture.js';
import { tempDir } from '../testing/temp-dir.js';
import { Database } from './database.js';
import { currentVersion, defaultMigrationsDir, migrate, readMigrations } from './migrate.js';

const dirs: { remove: () => void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
const newDir = () => { const d = tempDir(); dirs.push(d); return d.path; };
const { log } = captureLogs('silent');

const tables = (db: BetterSqlite3.Database) =>
  db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];

function migrationsDir(files: Record<string, string>): string {
  const dir = join(newDir(), 'migrations');
  mkdirSync(dir);
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

describe('migrations', () => {
  it('apply once on a new database and not again on reopen', async () => {
    const dataDir = newDir();
    const first = new Database({ dataDir }, log);
    await first.start();
    const all = readMigrations(defaultMigrationsDir).map((m) => m.version);
    expect(currentVersion(first.handle)).toBe(all.length);
    expect(tables(first.handle)).toEqual(expect.arrayContaining([
      'devices', 'records', 'record_progress', 'predictions', 'alerts', 'machine_events', 'metric_windows',
      'deployment_status', 'ingest_totals', 'invalid_payloads', 'desired_state', 'reconcile_state', 'schema_version',
    ]));
    expect(first.handle.pragma('journal_mode', { simple: true })).toBe('wal');
    first.handle.prepare("INSERT INTO devices (device_id, first_seen_at) VALUES ('d1', 1)").run();
    await first.stop();

    const again = new Database({ dataDir }, log);
    await again.start();
    expect(migrate(again.handle, defaultMigrationsDir, log)).toEqual([]);
    expect(again.handle.prepare('SELECT COUNT(*) FROM schema_version').pluck().get()).toBe(all.length);
    expect(again.handle.prepare('SELECT device_id FROM devices').pluck().all()).toEqual(['d1']);
    await again.stop();
  });

  it('roll a failing migration back whole and keep the previous version', () => {
    const dir = migrationsDir({
      '001_one.sql': 'CREATE TABLE a (x INTEGER);',
      '002_two.sql': 'CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);',
    });
    const db = new BetterSqlite3(join(newDir(), 't.db'));
    let caught: unknown;
    try { migrate(db, dir, log); } catch (err) { caught = err; }
    expect(isPdmError(caught, 'DB_MIGRATION_FAILED')).toBe(true);
    expect((caught as { context: object }).context).toMatchObject({ version: 2, name: 'two' });
    expect(currentVersion(db)).toBe(1);
    expect(tables(db)).toContain('a');
    expect(tables(db)).not.toContain('b');
    db.close();
  });

  it('refuse gaps in numbering, badly named files and a database newer than the code', () => {
    expect(() => readMigrations(migrationsDir({ '001_a.sql': '', '003_c.sql': '' }))).toThrow(/without gaps/);
    expect(() => readMigrations(migrationsDir({ '1_a.sql': '' }))).toThrow(/NNN_name/);
    const db = new BetterSqlite3(':memory:');
    migrate(db, migrationsDir({ '001_a.sql': 'CREATE TABLE a (x);', '002_b.sql': 'CREATE TABLE b (x);' }), log);
    expect(() => migrate(db, migrationsDir({ '001_a.sql': 'CREATE TABLE a (x);' }), log)).toThrow(/newer than this controller/);
    db.close();
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isPdmError } from '@pdm/protocol';
import { captureLogs } from '../testing/log-capture.js';
import { tempDir } from '../testing/temp-dir.js';
import { testDatabase } from '../testing/test-database.js';
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

/** A controller process starting on `dataDir` once `go` exists; prints its applied migrations as JSON. */
function starter(dataDir: string, go: string): ChildProcess {
  const script = `
    import { existsSync } from 'node:fs';
    import { pino } from 'pino';
    import { Database } from ${JSON.stringify(new URL('./database.ts', import.meta.url).pathname)};
    console.log('ready');
    while (!existsSync(${JSON.stringify(go)})) {}
    const db = new Database({ dataDir: ${JSON.stringify(dataDir)} }, pino({ level: 'info' }));
    await db.start();
    await db.stop();`;
  return spawn(process.execPath, ['--import', 'tsx', '--conditions=pdm-source', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('migrations', () => {
  it('are applied once when four controllers start on one new database at the same instant', async () => {
    const dataDir = newDir();
    const go = join(dataDir, 'go');
    const children = Array.from({ length: 4 }, () => starter(dataDir, go));
    const outputs = children.map((child) => {
      let out = '';
      child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
      return { ready: () => out.includes('ready'), text: () => out, exit: once(child, 'exit') as Promise<[number | null]> };
    });
    const deadline = Date.now() + 60_000;
    while (!outputs.every((o) => o.ready()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    writeFileSync(go, '');
    const codes = await Promise.all(outputs.map(async (o) => (await o.exit)[0]));
    expect(codes, outputs.map((o) => o.text()).join('\n')).toEqual([0, 0, 0, 0]);
    const applied = outputs.flatMap((o) => o.text().split('\n').filter((l) => l.includes('migration applied')).map((l) => (JSON.parse(l) as { version: number }).version));
    const all = readMigrations(defaultMigrationsDir).map((m) => m.version);
    expect(applied.sort((a, b) => a - b)).toEqual(all);
    const db = new BetterSqlite3(join(dataDir, 'controller.db'));
    expect(db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all()).toEqual(all);
    db.close();
  }, 90_000);

  it('apply once on a new database and not again on reopen', async () => {
    const first = await testDatabase({ log });
    const all = readMigrations(defaultMigrationsDir).map((m) => m.version);
    expect(currentVersion(first.handle)).toBe(all.length);
    expect(tables(first.handle)).toEqual(expect.arrayContaining([
      'devices', 'records', 'record_progress', 'prediction_batches', 'alerts', 'machine_events', 'metric_windows',
      'deployment_status', 'ingest_totals', 'invalid_payloads', 'desired_state', 'reconcile_state', 'schema_version',
    ]));
    expect(first.handle.pragma('journal_mode', { simple: true })).toBe('wal');
    first.handle.prepare("INSERT INTO devices (device_id, first_seen_at) VALUES ('d1', 1)").run();
    await first.stop();

    const again = await testDatabase({ log, dataDir: dirname(first.file) });
    expect(migrate(again.handle, defaultMigrationsDir, log)).toEqual([]);
    expect(again.handle.prepare('SELECT COUNT(*) FROM schema_version').pluck().get()).toBe(all.length);
    expect(again.handle.prepare('SELECT device_id FROM devices').pluck().all()).toEqual(['d1']);
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

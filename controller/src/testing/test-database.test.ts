/**
 * The test-database helper closes what it opened and removes its dir, at the moment its scope ends:
 * a later test in this file sees the earlier one's dir gone. Tests in a file run in order.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.js';
import { captureLogs } from './log-capture.js';
import { suiteDatabase, testDatabase } from './test-database.js';

const migrated = (database: Database): number =>
  database.handle.prepare('SELECT COUNT(*) FROM schema_version').pluck().get() as number;

describe('testDatabase', () => {
  let fromBeforeEach: Database;
  let openInAfterEach: boolean[] = [];
  let earlier: Database | undefined;
  beforeEach(async () => { fromBeforeEach = await testDatabase(); });
  afterEach(() => { openInAfterEach.push(fromBeforeEach.health().ok); });

  it('opens a migrated database on a real file in a temp dir, in a beforeEach and in a test', async () => {
    const inTest = await testDatabase();
    expect(existsSync(fromBeforeEach.file)).toBe(true);
    expect(existsSync(inTest.file)).toBe(true);
    expect(dirname(inTest.file)).not.toBe(dirname(fromBeforeEach.file));
    expect(migrated(inTest)).toBeGreaterThan(0);
    earlier = inTest;
  });

  it('closed the previous test\'s databases after its afterEach hooks and removed their dirs', () => {
    expect(openInAfterEach).toEqual([true]);
    expect(earlier!.health()).toEqual({ ok: false, detail: 'not open' });
    expect(existsSync(dirname(earlier!.file))).toBe(false);
    openInAfterEach = [];
  });

  it('opens a second connection to a dir given, logging to the logger given', async () => {
    const { log, lines } = captureLogs('debug');
    const second = await testDatabase({ dataDir: dirname(fromBeforeEach.file), log });
    expect(second.file).toBe(fromBeforeEach.file);
    fromBeforeEach.handle.exec("INSERT INTO devices (device_id, first_seen_at) VALUES ('d1', 1)");
    expect(second.handle.prepare('SELECT device_id FROM devices').pluck().all()).toEqual(['d1']);
    expect(lines.filter((l) => l.msg === 'database open')).toEqual([expect.objectContaining({ file: second.file })]);
  });
});

let suiteScoped: Database | undefined;
describe('suiteDatabase', () => {
  const database = suiteDatabase();
  suiteScoped = database;

  it('is open for every test of its block', () => {
    expect(migrated(database)).toBeGreaterThan(0);
    database.handle.exec("INSERT INTO devices (device_id, first_seen_at) VALUES ('kept', 1)");
  });

  it('keeps what an earlier test of the block wrote', () => {
    expect(database.handle.prepare('SELECT device_id FROM devices').pluck().all()).toEqual(['kept']);
  });
});

describe('after a suiteDatabase block', () => {
  it('its database is closed and its dir removed', () => {
    expect(suiteScoped!.health()).toEqual({ ok: false, detail: 'not open' });
    expect(existsSync(dirname(suiteScoped!.file))).toBe(false);
  });
});

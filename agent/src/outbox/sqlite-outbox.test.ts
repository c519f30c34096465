import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { captureLogger, silentLogger } from '../testing/logger.js';
import { describeOutboxSuite, eventDraft, predictionDraft } from './outbox.suite.js';
import type { OutboxCaps } from './outbox.js';
import { SqliteOutbox } from './sqlite-outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-outbox-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = new FakeClock();
const files = new WeakMap<object, string>();
let n = 0;

function open(file: string, deviceId: string, synchronous: 'NORMAL' | 'FULL' = 'NORMAL', caps?: OutboxCaps): SqliteOutbox {
  const outbox = new SqliteOutbox({ file, deviceId, synchronous, clock, log: silentLogger, ...(caps === undefined ? {} : { caps }) });
  outbox.start();
  files.set(outbox, file);
  return outbox;
}

describeOutboxSuite('sqlite', {
  clock,
  create: ({ deviceId = 'dev-1', caps } = {}) => open(join(dir, `suite-${n++}`, 'outbox.sqlite'), deviceId, 'NORMAL', caps),
  reopen(outbox, { deviceId = 'dev-1', caps } = {}) {
    outbox.stop();
    return open(files.get(outbox)!, deviceId, 'NORMAL', caps);
  },
});

describe('SqliteOutbox on disk', () => {
  it('uses WAL with the configured synchronous level and passes integrity_check', () => {
    const file = join(dir, 'pragmas.sqlite');
    const outbox = open(file, 'dev-1', 'FULL');
    outbox.commit([eventDraft(), eventDraft()]);
    outbox.ack([1]);
    outbox.stop();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare('SELECT seq FROM records').all()).toEqual([{ seq: 2 }]);
    db.close();
    const reopened = open(file, 'dev-1', 'FULL');
    expect(reopened.stats()).toMatchObject({ lastSeq: 2, depth: 1, delivered: 1 });
    reopened.stop();
  });

  it('commits a transaction holding a critical record at FULL, routine ones at NORMAL', () => {
    const outbox = new SqliteOutbox({ file: join(dir, 'levels.sqlite'), deviceId: 'dev-1', synchronous: 'NORMAL', criticalSynchronous: 'FULL', clock, log: silentLogger });
    outbox.start();
    // watch the connection's pragma calls: the level is switched around each critical commit only
    const db = (outbox as unknown as { db: Database.Database }).db;
    const pragmas: string[] = [];
    const pragma = db.pragma.bind(db);
    db.pragma = ((source: string, options?: Database.PragmaOptions) => {
      pragmas.push(source);
      return pragma(source, options);
    }) as typeof db.pragma;
    outbox.commit([predictionDraft()]);
    expect(pragmas).toEqual([]);
    outbox.commit([predictionDraft(), eventDraft()]);
    expect(pragmas).toEqual(['synchronous = FULL', 'synchronous = NORMAL']);
    expect(pragma('synchronous', { simple: true })).toBe(1);
    outbox.stop();
  });

  it('refuses a database from a newer agent without touching it', () => {
    const file = join(dir, 'newer.sqlite');
    open(file, 'dev-1').stop();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => open(file, 'dev-1')).toThrow(expect.objectContaining({ code: 'OUTBOX_FAILED', message: expect.stringMatching(/newer agent/) }));
    expect(readdirSync(dir).filter((f) => f.startsWith('newer.sqlite.corrupt'))).toEqual([]);
  });
});

describe('SqliteOutbox with a corrupt database at start', () => {
  function quarantinedFiles(d: string): string[] {
    return readdirSync(d).filter((f) => f.includes('.corrupt-') && !/-(wal|shm)$/.test(f));
  }

  it('sets a file that is not a database aside, starts a fresh one and reports it', () => {
    const d = join(dir, 'garbage');
    mkdirSync(d);
    const file = join(d, 'outbox.sqlite');
    writeFileSync(file, 'this is not a database, just some bytes that fill the header page'.repeat(100));
    const { log, lines } = captureLogger();
    const outbox = new SqliteOutbox({ file, deviceId: 'dev-1', synchronous: 'NORMAL', clock, log });
    outbox.start();
    const moved = quarantinedFiles(d);
    expect(moved).toEqual([expect.stringMatching(/^outbox\.sqlite\.corrupt-\d{4}-\d\d-\d\dT/)]);
    expect(readFileSync(join(d, moved[0]!), 'utf8')).toMatch(/^this is not a database/);
    expect(lines).toContainEqual(expect.objectContaining({ level: 50, msg: 'outbox quarantined', movedTo: moved[0], reason: 'SQLITE_NOTADB' }));
    expect(outbox.stats()).toMatchObject({ lastSeq: 0, depth: 0, quarantined: [{ at: clock.now(), movedTo: moved[0], reason: 'SQLITE_NOTADB' }] });
    expect(outbox.commit([eventDraft()])[0]!.seq).toBe(1);
    outbox.stop();
    // the note stays with the new database
    expect(open(file, 'dev-1').stats().quarantined).toHaveLength(1);
  });

  it('sets a database with a damaged page aside, goes on above its seqs and counts what it held', () => {
    const d = join(dir, 'damaged');
    mkdirSync(d);
    const file = join(d, 'outbox.sqlite');
    const outbox = open(file, 'dev-1');
    const big = predictionDraft(Array.from({ length: 200 }, (_, i) => i / 200));
    for (let i = 0; i < 40; i++) outbox.commit([big]);
    outbox.ack([1, 2]);
    outbox.stop();
    const checkpointed = new Database(file);
    checkpointed.pragma('wal_checkpoint(TRUNCATE)');
    checkpointed.close();
    // scribble over a page in the middle of the records b-tree
    const fd = openSync(file, 'r+');
    const pageSize = 4096;
    const pages = statSync(file).size / pageSize;
    writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, Math.floor(pages / 2) * pageSize);
    closeSync(fd);

    const { log, lines } = captureLogger();
    const fresh = new SqliteOutbox({ file, deviceId: 'dev-1', synchronous: 'NORMAL', clock, log });
    fresh.start();
    expect(quarantinedFiles(d)).toHaveLength(1);
    const line = lines.find((l) => l['msg'] === 'outbox quarantined');
    expect(line).toMatchObject({ level: 50, reason: expect.stringMatching(/quick_check|SQLITE_CORRUPT/) });
    // seqs go on above the reservation written while the old database ran, never from 1 again
    const stats = fresh.stats();
    expect(stats.lastSeq).toBeGreaterThanOrEqual(40);
    expect(fresh.commit([eventDraft()])[0]!.seq).toBe(stats.lastSeq + 1);
    // what the old file still held is counted as lost (read here through its intact class index)
    expect(line!['salvage']).toEqual({ lastSeq: 40, pending: 38 });
    expect(stats.dropped).toEqual({ 'corrupt-db': 38 });
    const check = new Database(file, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
    fresh.stop();
  });

  it('goes on above the seq reservation when its database has gone, and ignores one of another device', () => {
    const d = join(dir, 'deleted');
    mkdirSync(d);
    const file = join(d, 'outbox.sqlite');
    const first = open(file, 'dev-1');
    first.commit([eventDraft(), eventDraft()]);
    first.stop();
    const reserved = (JSON.parse(readFileSync(`${file}.seq`, 'utf8')) as { reservedThrough: number }).reservedThrough;
    expect(reserved).toBeGreaterThanOrEqual(2);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    const again = open(file, 'dev-1');
    expect(again.stats().lastSeq).toBe(reserved);
    again.stop();
    // restarting on a healthy database does not jump ahead
    const third = open(file, 'dev-1');
    expect(third.stats().lastSeq).toBe(reserved);
    third.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    expect(open(file, 'dev-2').stats().lastSeq).toBe(0);
  });
});

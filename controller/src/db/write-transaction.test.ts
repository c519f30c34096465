import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.js';
import { TokenStore } from '../auth/token-store.js';
import { ManualClock } from '../clock.js';
import { testDatabase } from '../testing/test-database.js';
import { holdWriteLock } from '../testing/write-lock.js';
import { readTransaction, writeTransaction, type Database } from './database.js';

let database: Database;

beforeEach(async () => {
  database = await testDatabase();
  database.handle.exec('CREATE TABLE probe (n INTEGER NOT NULL)');
});

/** Another thread's connection takes the write lock, writes a row and commits 300 ms later. */
const holdLock = () => holdWriteLock(database.file, { sql: 'INSERT INTO probe (n) VALUES (1)', releaseAfterMs: 300 });

const probes = () => database.handle.prepare('SELECT COUNT(*) FROM probe').pluck().get() as number;

describe('writeTransaction while another connection holds the write lock', () => {
  it('waits for the lock at BEGIN and then reads and writes, instead of failing with SQLITE_BUSY', async () => {
    const { released } = await holdLock();
    const db = database.handle;
    const seenBefore = writeTransaction(db, () => {
      const n = probes();
      db.prepare('INSERT INTO probe (n) VALUES (2)').run();
      return n;
    })();
    // it read after the other connection's commit: its row was there
    expect(seenBefore).toBe(1);
    expect(probes()).toBe(2);
    await released;
  });

  it('a read-then-write in a deferred transaction fails at once: why writes must not use one', async () => {
    const { released } = await holdLock();
    const db = database.handle;
    const deferred = readTransaction(db, () => {
      probes();
      db.prepare('INSERT INTO probe (n) VALUES (2)').run();
    });
    expect(() => deferred()).toThrow(expect.objectContaining({ code: expect.stringMatching(/^SQLITE_BUSY/) }));
    await released;
    expect(probes()).toBe(1);
  });

  it('a token revoke (reads the token, then writes it and the audit entry) waits for the lock', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00.000Z');
    const store = new TokenStore(database, new AuditLog(database, clock), clock);
    const root = { name: 'root', role: 'admin' } as const;
    store.create({ name: 'alice', role: 'engineer' }, root);
    const { released } = await holdLock();
    expect(store.revoke('alice', root).changed).toBe(true);
    expect(store.list().find((t) => t.name === 'alice')?.revokedBy).toBe('root');
    await released;
  });
});

describe('the controller\'s transactions', () => {
  it('go through writeTransaction or readTransaction (database.ts), never a bare deferred db.transaction()', () => {
    const src = fileURLToPath(new URL('..', import.meta.url));
    const bare = sourceFiles(src)
      // migrate.ts runs its own immediate transactions, and database.ts imports it
      .filter((f) => !/\.test\.ts$/.test(f) && !f.endsWith(join('db', 'database.ts')) && !f.endsWith(join('db', 'migrate.ts')))
      .filter((f) => /\.transaction\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(src, f));
    expect(bare).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

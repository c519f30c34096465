import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { silentLogger } from '../testing/logger.js';
import { eventDraft, describeOutboxSuite } from './outbox.suite.js';
import { SqliteOutbox } from './sqlite-outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-outbox-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = new FakeClock();
const files = new WeakMap<object, string>();
let n = 0;

function open(file: string, deviceId: string, synchronous: 'NORMAL' | 'FULL' = 'NORMAL'): SqliteOutbox {
  const outbox = new SqliteOutbox({ file, deviceId, synchronous, clock, log: silentLogger });
  outbox.start();
  files.set(outbox, file);
  return outbox;
}

describeOutboxSuite('sqlite', {
  create: (deviceId = 'dev-1') => open(join(dir, `suite-${n++}`, 'outbox.sqlite'), deviceId),
  reopen(outbox, deviceId = 'dev-1') {
    outbox.stop();
    return open(files.get(outbox)!, deviceId);
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

  it('fails with OUTBOX_FAILED on a file that is not a database', async () => {
    const { writeFileSync } = await import('node:fs');
    const file = join(dir, 'garbage.sqlite');
    writeFileSync(file, 'this is not a database, just some bytes that fill the header page'.repeat(100));
    expect(() => open(file, 'dev-1')).toThrow(expect.objectContaining({ code: 'OUTBOX_FAILED' }));
  });
});

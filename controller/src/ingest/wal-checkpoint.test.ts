/**
 * The record writer's WAL checkpoints (wal-checkpoint.ts) on a real SQLite file, migrated as the
 * controller does it, with the record writer storing real batches and a second connection reading
 * as the API does: the page count read from the WAL-index is SQLite's own, the WAL stays bounded under
 * load while readers come and go, an idle writer's pages are checkpointed, and nothing committed is
 * lost to a checkpoint that has not run.
 */
import { statSync } from 'node:fs';
import BetterSqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodePayload, upTopic } from '@pdm/protocol';
import { Database, WAL_BACKSTOP_PAGES } from '../db/database.js';
import { captureLogs } from '../testing/log-capture.js';
import * as fx from '../testing/fixtures.js';
import { tempDir } from '../testing/temp-dir.js';
import { RecordBatchWriter, type RawRecord } from './record-batch.js';
import { WalCheckpointer, type WalCheckpointOptions } from './wal-checkpoint.js';

const NOW = Date.parse('2026-11-27T01:00:00.000Z');
const DEVICES = 10;

/** Batch `n` of `size` messages: prediction batches and metric windows of DEVICES devices, seqs in order. */
function batch(n: number, size: number): RawRecord[] {
  return Array.from({ length: size }, (_, i) => {
    const deviceId = `dev-${i % DEVICES}`;
    const seq = n * (size / DEVICES) + Math.floor(i / DEVICES) + 1;
    return seq % 4 === 0
      ? { topic: upTopic(deviceId, 'metrics'), payload: encodePayload('metrics', fx.metrics(deviceId, seq)), live: true }
      : { topic: upTopic(deviceId, 'predictions'), payload: encodePayload('predictions', fx.predictions(deviceId, seq, 4)), live: true };
  });
}

describe('WalCheckpointer', () => {
  let dir: ReturnType<typeof tempDir>;
  let database: Database;
  let writerDb: BetterSqlite.Database;
  let reader: BetterSqlite.Database;
  let checkpoints: WalCheckpointer | undefined;

  beforeEach(async () => {
    dir = tempDir();
    database = new Database({ dataDir: dir.path }, captureLogs('debug').log);
    await database.start();
    // a second connection, as the ingest worker opens it (record-worker.ts)
    writerDb = new BetterSqlite(database.file, { fileMustExist: true });
    writerDb.pragma('synchronous = NORMAL');
    reader = new BetterSqlite(database.file, { readonly: true, fileMustExist: true });
  });
  afterEach(async () => {
    vi.useRealTimers();
    checkpoints?.stop();
    reader.close();
    writerDb.close();
    await database.stop();
    dir.remove();
  });

  const start = (options: Partial<WalCheckpointOptions> = {}): WalCheckpointer => {
    checkpoints = new WalCheckpointer(writerDb, { checkpointAt: 10_000, backstopAt: WAL_BACKSTOP_PAGES, idleMs: 1000, idleAt: 1000, ...options });
    checkpoints.start();
    return checkpoints;
  };
  const stored = (): number => reader.prepare('SELECT COUNT(*) FROM records').pluck().get() as number;

  it('reads the WAL pages, and those not yet copied, as SQLite counts them', () => {
    const c = start();
    const writer = new RecordBatchWriter(writerDb);
    writer.write(batch(0, 200), NOW, new Set());
    const { log, pending } = c.walPages();
    expect(log).toBeGreaterThan(10);
    expect(pending).toBe(log);
    // a PASSIVE checkpoint reports the WAL's pages; with no reader in the way it copies all of them
    expect(c.checkpoint()).toEqual({ busy: 0, log, checkpointed: log });
    expect(c.walPages()).toEqual({ log, pending: 0 });
    // the next writer starts the WAL over
    writer.write(batch(1, 200), NOW, new Set());
    const after = c.walPages();
    expect(after.log).toBeLessThan(log + 10);
    const [row] = writerDb.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    expect(row!.log).toBe(after.log);
    expect(c.walPages()).toEqual({ log: after.log, pending: 0 });
  });

  it("sets the connection's autocheckpoint to the backstop, and the controller's connection's too", () => {
    start({ backstopAt: 12_345 });
    expect(writerDb.pragma('wal_autocheckpoint', { simple: true })).toBe(12_345);
    expect(database.handle.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_BACKSTOP_PAGES);
  });

  /** 90 batches of 100 records; in two of three a reader holds a snapshot over the commit and its checkpoint. */
  function load(c: WalCheckpointer): { most: number; perBatch: number; ran: number } {
    const writer = new RecordBatchWriter(writerDb);
    let most = 0;
    let perBatch = 0;
    let ran = 0;
    for (let n = 0; n < 90; n++) {
      const logBefore = c.walPages().log;
      const step = (): void => {
        writer.write(batch(n, 100), NOW, new Set());
        if (c.afterBatch() !== undefined) ran++;
      };
      if (n % 3 === 0) step();
      else reader.transaction(() => [stored(), step(), stored()])();
      const log = c.walPages().log;
      if (log > logBefore) perBatch = Math.max(perBatch, log - logBefore);
      most = Math.max(most, log);
    }
    expect(stored()).toBe(9000);
    return { most, perBatch, ran };
  }

  it('keeps the WAL bounded under load, with readers holding snapshots over most batches', () => {
    const checkpointAt = 400;
    // the backstop far away: the bound must come from afterBatch, not from SQLite's autocheckpoint
    const c = start({ checkpointAt, backstopAt: 1_000_000 });
    const pageSize = writerDb.pragma('page_size', { simple: true }) as number;
    const { most, perBatch, ran } = load(c);
    expect(perBatch).toBeGreaterThan(0);
    expect(ran).toBeGreaterThan(3);
    // a WAL that reached checkpointAt is started over within the next batches without a reader
    expect(most).toBeLessThan(checkpointAt + 4 * perBatch);
    // the file: a 32-byte header and frames of a page and a 24-byte header each
    expect(statSync(`${database.file}-wal`).size).toBeLessThanOrEqual(32 + (checkpointAt + 4 * perBatch) * (pageSize + 24));
  });

  it('without its checkpoints the same load grows the WAL past that bound (what the test above rules out)', () => {
    const c = start({ checkpointAt: 400, backstopAt: 1_000_000 });
    const writer = new RecordBatchWriter(writerDb);
    let perBatch = 0;
    for (let n = 0; n < 90; n++) {
      const before = c.walPages().log;
      writer.write(batch(n, 100), NOW, new Set());
      perBatch = Math.max(perBatch, c.walPages().log - before);
    }
    expect(c.walPages().log).toBeGreaterThan(400 + 4 * perBatch);
  });

  it('checkpoints what an idle writer left behind, and leaves a busy writer to its batches', async () => {
    vi.useFakeTimers();
    const c = start({ checkpointAt: 1_000_000, idleAt: 10, idleMs: 1000 });
    const writer = new RecordBatchWriter(writerDb);
    writer.write(batch(0, 200), NOW, new Set());
    c.afterBatch();
    const { pending } = c.walPages();
    expect(pending).toBeGreaterThan(10);
    await vi.advanceTimersByTimeAsync(1000); // a batch came during this period: not idle
    expect(c.walPages().pending).toBe(pending);
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.walPages().pending).toBe(0);
  });

  it('leaves committed records readable while they are only in the WAL', () => {
    start();
    const writer = new RecordBatchWriter(writerDb);
    for (let n = 0; n < 5; n++) writer.write(batch(n, 100), NOW, new Set());
    expect(checkpoints!.walPages().pending).toBeGreaterThan(0);
    // the records are in the WAL only; a reader opened now (as after a restart) sees every one
    const fresh = new BetterSqlite(database.file, { readonly: true, fileMustExist: true });
    try {
      expect(fresh.prepare('SELECT COUNT(*) FROM records').pluck().get()).toBe(500);
    } finally {
      fresh.close();
    }
  });
});

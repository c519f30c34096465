/**
 * The record writer's WAL checkpoints (wal-checkpoint.ts) on a real SQLite file, migrated as the
 * controller does it, with the record writer storing real batches and a second connection reading
 * as the API does: the WAL stays bounded under load while readers come and go, an idle writer's WAL
 * is checkpointed, and records only in the WAL are there for a new connection.
 */
import { statSync } from 'node:fs';
import BetterSqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodePayload, upTopic } from '@pdm/protocol';
import { WAL_BACKSTOP_PAGES, type Database } from '../db/database.js';
import * as fx from '../testing/fixtures.js';
import { testDatabase } from '../testing/test-database.js';
import { RecordBatchWriter, type RawRecord } from './record-batch.js';
import { WalCheckpointer } from './wal-checkpoint.js';

const NOW = Date.parse('2026-11-27T01:00:00.000Z');
const DEVICES = 10;
const BATCHES = 90;

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
  let database: Database;
  let writerDb: BetterSqlite.Database;
  let reader: BetterSqlite.Database;
  let checkpoints: WalCheckpointer | undefined;

  beforeEach(async () => {
    database = await testDatabase();
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
  });

  const start = (checkpointAt: number, idleMs = 1000): WalCheckpointer => {
    checkpoints = new WalCheckpointer(writerDb, { checkpointAt, idleMs });
    checkpoints.start();
    return checkpoints;
  };
  const stored = (): number => reader.prepare('SELECT COUNT(*) FROM records').pluck().get() as number;
  const walBytes = (): number => statSync(`${database.file}-wal`).size;

  it("sets the writer connection's autocheckpoint, and the controller's connection's to the higher bound", () => {
    start(12_345);
    expect(writerDb.pragma('wal_autocheckpoint', { simple: true })).toBe(12_345);
    expect(database.handle.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_BACKSTOP_PAGES);
  });

  /**
   * BATCHES batches of 100 records; in two of three a reader holds a snapshot over the commit (an API
   * read), which keeps a checkpoint from copying everything. Returns the WAL file's size in frames
   * after the first batch (from an empty WAL) and at the end.
   */
  function load(c: WalCheckpointer): { firstBatch: number; frames: number } {
    const writer = new RecordBatchWriter(writerDb);
    const frameBytes = (writerDb.pragma('page_size', { simple: true }) as number) + 24;
    let firstBatch = 0;
    for (let n = 0; n < BATCHES; n++) {
      const step = (): void => {
        writer.write(batch(n, 100), NOW, new Set());
        c.afterBatch();
      };
      if (n % 3 === 0) step();
      else reader.transaction(() => [stored(), step(), stored()])();
      if (n === 0) firstBatch = (walBytes() - 32) / frameBytes;
    }
    expect(stored()).toBe(BATCHES * 100);
    return { firstBatch, frames: (walBytes() - 32) / frameBytes };
  }

  it('keeps the WAL bounded under load, with readers holding snapshots over most batches', () => {
    const { firstBatch, frames } = load(start(400));
    expect(firstBatch).toBeGreaterThan(10);
    // a WAL that reached 400 pages is started over within the next batches without a reader
    expect(frames).toBeLessThan(400 + 4 * firstBatch);
  });

  it('without that autocheckpoint the same load grows the WAL past that bound (what the test above rules out)', () => {
    const { firstBatch, frames } = load(start(1_000_000));
    expect(frames).toBeGreaterThan(400 + 4 * firstBatch);
  });

  it('checkpoints the WAL of an idle writer, and leaves a busy writer to its autocheckpoint', async () => {
    vi.useFakeTimers();
    const c = start(1_000_000, 1000);
    const runs = vi.spyOn(c, 'checkpoint');
    const writer = new RecordBatchWriter(writerDb);
    writer.write(batch(0, 200), NOW, new Set());
    c.afterBatch();
    await vi.advanceTimersByTimeAsync(1000); // a batch came during this period: not idle
    expect(runs).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs).toHaveBeenCalledTimes(1);
    const result = runs.mock.results[0]!.value as { busy: number; log: number; checkpointed: number };
    expect(result.busy).toBe(0);
    expect(result.log).toBeGreaterThan(10);
    expect(result.checkpointed).toBe(result.log);
    // copied whole: the next writer starts the WAL over instead of growing it
    const size = walBytes();
    writer.write(batch(1, 100), NOW, new Set());
    expect(walBytes()).toBe(size);
  });

  it('leaves committed records readable by a new connection while they are only in the WAL', () => {
    start(1_000_000);
    const writer = new RecordBatchWriter(writerDb);
    for (let n = 0; n < 5; n++) writer.write(batch(n, 100), NOW, new Set());
    const fresh = new BetterSqlite(database.file, { readonly: true, fileMustExist: true });
    try {
      expect(fresh.prepare('SELECT COUNT(*) FROM records').pluck().get()).toBe(500);
      // nothing of it was copied into the database file yet: only the WAL holds it
      expect(statSync(database.file).size).toBeLessThan(walBytes());
    } finally {
      fresh.close();
    }
  });
});

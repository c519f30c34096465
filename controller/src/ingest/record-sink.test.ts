/**
 * One suite for both record sinks (record-sink.ts): in process, and the worker thread run from its
 * TypeScript source through tsx's loader. Real SQLite file, migrated as the controller does it; what is
 * committed is checked from a second connection, as a restarted controller would see it.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import BetterSqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodePayload, upTopic, type RecordKind } from '@pdm/protocol';
import type { Database } from '../db/database.js';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { RecordsRepo } from '../db/records-repo.js';
import { captureLogs } from '../testing/log-capture.js';
import * as fx from '../testing/fixtures.js';
import { testDatabase } from '../testing/test-database.js';
import { holdWriteLock } from '../testing/write-lock.js';
import { MAX_ATTEMPTS, type RawRecord } from './record-batch.js';
import { InProcessSink, type RecordSink } from './record-sink.js';
import { WorkerSink } from './worker-sink.js';

/**
 * The worker from its source: a bootstrap registers tsx's loader in the worker thread (`--import tsx`
 * in a worker's execArgv does not reach its entry on Node 20), then loads record-worker.ts.
 */
const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
const bootstrap = `const { register } = await import(${JSON.stringify(tsxApi)}); register();
await import(${JSON.stringify(new URL('./record-worker.ts', import.meta.url).href)});`;
const sourceWorker = { url: new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), execArgv: ['--conditions=pdm-source'] };

/** `busyTimeoutMs`: the worker's connection's; the in-process sink uses the controller's connection's. */
const sinks: [string, (database: Database, busyTimeoutMs?: number) => RecordSink][] = [
  ['in process', (database) => new InProcessSink(() => database.handle)],
  ['worker thread', (database, busyTimeoutMs = 2000) => new WorkerSink({ file: database.file, entry: sourceWorker, busyTimeoutMs }, captureLogs('debug').log)],
];

const raw = (deviceId: string, kind: RecordKind, payload: Buffer | Uint8Array, live = true): RawRecord => ({ topic: upTopic(deviceId, kind), payload, live });
const pred = (deviceId: string, seq: number) => encodePayload('predictions', fx.predictions(deviceId, seq, 2));
const NOW = Date.parse('2026-11-27T01:00:00.000Z');

describe.each(sinks)('record sink (%s)', (_name, makeSink) => {
  let database: Database;
  let sink: RecordSink;
  let reader: BetterSqlite.Database | undefined;

  beforeEach(async () => {
    database = await testDatabase();
    sink = makeSink(database);
    await sink.start();
    reader = new BetterSqlite(database.file, { readonly: true, fileMustExist: true });
  });
  afterEach(async () => {
    reader?.close();
    await sink.stop();
  });

  const committed = (deviceId: string, seq: number): boolean =>
    (reader!.prepare('SELECT COUNT(*) FROM records WHERE device_id = ? AND seq = ?').pluck().get(deviceId, seq) as number) === 1;

  it('stores a batch and answers per message: stored, duplicate, conflict, invalid; committed before it answers', async () => {
    const other = encodePayload('predictions', fx.predictions('s1', 1, 3));
    const result = await sink.write([
      raw('s1', 'predictions', pred('s1', 1)),
      raw('s1', 'predictions', pred('s1', 1)), // the same bytes again: duplicate
      raw('s1', 'predictions', other), // seq 1 with other content: conflict
      raw('s1', 'metrics', encodePayload('metrics', fx.metrics('s1', 3))),
      raw('s1', 'events', Buffer.from('{"deviceId": ')),
      raw('s1', 'alerts', encodePayload('alerts', fx.alert('s2', 4))), // deviceId of another device
      { topic: 'pdm/v1/s1/up/status', payload: Buffer.from('{}'), live: true }, // not a record topic
    ], NOW, new Set(['metrics']));

    expect(result.batchError).toBeUndefined();
    expect(result.outcomes).toEqual([
      { type: 'stored' },
      { type: 'duplicate' },
      { type: 'conflict', seq: 1 },
      { type: 'stored', payload: fx.metrics('s1', 3) }, // wanted: the decoded record comes back
      { type: 'invalid', code: 'PAYLOAD_NOT_JSON', reason: 'payload for events is not UTF-8 JSON' },
      { type: 'invalid', code: 'DEVICE_MISMATCH', reason: 'payload deviceId differs from topic deviceId' },
      { type: 'invalid', code: 'TOPIC_INVALID', reason: 'topic is not a pdm record topic' },
    ]);
    expect([committed('s1', 1), committed('s1', 3)]).toEqual([true, true]);
    expect(reader!.prepare("SELECT SUM(rows) FROM prediction_batches WHERE device_id = 's1'").pluck().get()).toBe(2);
    expect(reader!.prepare("SELECT received_at FROM records WHERE device_id = 's1' AND seq = 3").pluck().get()).toBe(NOW);
    expect(new RecordsRepo(reader!).progress('s1')).toEqual({ contiguous: 1, max: 3, stored: 2, missing: 1 });
    // counters and last seen are committed with the batch, not left to the controller's thread
    const stats = new IngestStatsRepo(reader!);
    expect(stats.totals().byKind.predictions).toMatchObject({ accepted: 3, stored: 1, duplicates: 1, conflicts: 1 });
    expect(stats.totals().byKind.metrics).toMatchObject({ accepted: 1, stored: 1 });
    expect(stats.invalidForDevice('s1').byCode).toEqual({ PAYLOAD_NOT_JSON: 1, DEVICE_MISMATCH: 1 });
    expect(reader!.prepare("SELECT last_seen_at FROM devices WHERE device_id = 's1'").pluck().get()).toBe(NOW);
  });

  it('moves last seen only for live messages, but knows the device from a replayed one', async () => {
    await sink.write([raw('r1', 'predictions', pred('r1', 1), false)], NOW, new Set());
    expect(reader!.prepare("SELECT COUNT(*) FROM devices WHERE device_id = 'r1' AND last_seen_at IS NULL").pluck().get()).toBe(1);
  });

  it('stores a failing batch one by one: only the poison member fails, and it is dropped as INTERNAL after MAX_ATTEMPTS', async () => {
    database.handle.exec('ALTER TABLE alerts RENAME TO alerts_away');
    try {
      const poison = raw('p1', 'alerts', encodePayload('alerts', fx.alert('p1', 2)));
      const first = await sink.write([raw('p1', 'predictions', pred('p1', 1)), poison, raw('p1', 'predictions', pred('p1', 3))], NOW, new Set());
      expect(first.batchError?.message).toMatch(/no such table: main.alerts|no such table: alerts/);
      expect(first.batchError?.oneByOne).toBe(true);
      expect(first.outcomes.map((o) => o.type)).toEqual(['stored', 'failed', 'stored']);
      expect([committed('p1', 1), committed('p1', 2), committed('p1', 3)]).toEqual([true, false, true]);
      for (let attempt = 2; attempt < MAX_ATTEMPTS; attempt += 1) {
        expect((await sink.write([poison], NOW, new Set())).outcomes[0]!.type).toBe('failed');
      }
      const last = (await sink.write([poison], NOW, new Set())).outcomes[0]!;
      expect(last).toMatchObject({ type: 'invalid', code: 'INTERNAL', reason: `processing failed ${MAX_ATTEMPTS} times`, attempts: MAX_ATTEMPTS });
    } finally {
      database.handle.exec('ALTER TABLE alerts_away RENAME TO alerts');
    }
    expect(new IngestStatsRepo(reader!).invalidForDevice('p1').byCode).toEqual({ INTERNAL: 1 });
  });

  it('fails a whole batch while another connection holds the write lock: nothing stored, dropped or counted as an attempt', async () => {
    database.handle.pragma('busy_timeout = 200'); // the in-process sink's connection
    const quick = makeSink(database, 200);
    await quick.start();
    try {
      const batch = [raw('b1', 'predictions', pred('b1', 1)), raw('b1', 'events', Buffer.from('x')), raw('b1', 'predictions', pred('b1', 2))];
      const lock = await holdWriteLock(database.file);
      try {
        // more times than a poison message is given: a busy database is no message's fault
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
          const result = await quick.write(batch, NOW, new Set());
          expect(result.batchError).toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/), oneByOne: false });
          expect(result.outcomes.map((o) => o.type)).toEqual(['failed', 'invalid', 'failed']);
        }
      } finally {
        await lock.release();
      }
      expect((await quick.write(batch, NOW, new Set())).outcomes.map((o) => o.type)).toEqual(['stored', 'invalid', 'stored']);
      expect([committed('b1', 1), committed('b1', 2)]).toEqual([true, true]);
      expect(new IngestStatsRepo(reader!).invalidForDevice('b1').byCode.INTERNAL).toBeUndefined();
    } finally {
      await quick.stop();
    }
  });

  it('keeps batches in order: a record and its resend in consecutive batches are stored once', async () => {
    const writes = [1, 2, 3].map((seq) => sink.write([raw('o1', 'predictions', pred('o1', seq)), raw('o1', 'predictions', pred('o1', 1))], NOW, new Set()));
    const results = await Promise.all(writes);
    expect(results.map((r) => r.outcomes.map((o) => o.type))).toEqual([['stored', 'duplicate'], ['stored', 'duplicate'], ['stored', 'duplicate']]);
    expect(new RecordsRepo(reader!).progress('o1')).toEqual({ contiguous: 3, max: 3, stored: 3, missing: 0 });
  });
});

describe('worker sink', () => {
  it('fails to start with a coded error, the thrown one as its cause, when the worker throws', async () => {
    const database = await testDatabase();
    const throwing = { url: new URL(`data:text/javascript,${encodeURIComponent("throw new Error('worker broke');")}`) };
    const sink = new WorkerSink({ file: database.file, entry: throwing, busyTimeoutMs: 2000 }, captureLogs('silent').log);
    try {
      const err = await sink.start().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INTERNAL', message: 'ingest worker failed', cause: expect.objectContaining({ message: 'worker broke' }) });
    } finally {
      await sink.stop();
    }
  });

  it('fails the batch a dying worker held (so it is not acknowledged) and stores the next one in a new worker', async () => {
    const database = await testDatabase();
    // the first worker dies on its first batch; the one started after it is the real one
    const marker = `${dirname(database.file)}/crashed`;
    const crashOnce = `const { existsSync, writeFileSync } = await import('node:fs');
const { parentPort } = await import('node:worker_threads');
if (!existsSync(${JSON.stringify(marker)})) {
  writeFileSync(${JSON.stringify(marker)}, '');
  parentPort.on('message', () => process.exit(3));
  parentPort.postMessage({ type: 'ready' });
} else {
  ${bootstrap}
}`;
    const { log, lines } = captureLogs('debug');
    const sink = new WorkerSink({ file: database.file, entry: { url: new URL(`data:text/javascript,${encodeURIComponent(crashOnce)}`), execArgv: ['--conditions=pdm-source'] }, busyTimeoutMs: 2000 }, log);
    try {
      await sink.start();
      await expect(sink.write([raw('c1', 'predictions', pred('c1', 1))], NOW, new Set())).rejects.toMatchObject({ code: 'INTERNAL', message: 'ingest worker exited' });
      expect(lines.filter((l) => l.msg === 'ingest worker exited; starting a new one for the next batch').map((l) => l.code)).toEqual([3]);
      const again = await sink.write([raw('c1', 'predictions', pred('c1', 1))], NOW, new Set());
      expect(again.outcomes).toEqual([{ type: 'stored' }]);
    } finally {
      await sink.stop();
    }
  });
});

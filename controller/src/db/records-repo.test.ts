import { beforeEach, describe, expect, it } from 'vitest';
import { PdmError, type RecordKind } from '@pdm/protocol';
import { alert, deployment, event, metrics, predictions } from '../testing/fixtures.js';
import { testDatabase } from '../testing/test-database.js';
import type { Database } from './database.js';
import { RecordsQuery } from './records-query.js';
import { RecordsRepo } from './records-repo.js';

let database: Database;
let repo: RecordsRepo;

beforeEach(async () => {
  database = await testDatabase();
  repo = new RecordsRepo(database.handle);
});

const count = (table: string) => database.handle.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
const storeSeq = (seq: number, hash = `h${seq}`) =>
  database.handle.transaction(() => repo.store('events', event('d1', seq), hash, 1000))();

describe('RecordsRepo', () => {
  it('stores a record once; a resend is a duplicate, other bytes with the same seq a conflict', () => {
    expect(storeSeq(1)).toBe('stored');
    expect(storeSeq(1)).toBe('duplicate');
    expect(storeSeq(1, 'other')).toBe('conflict');
    expect(count('records')).toBe(1);
    expect(count('machine_events')).toBe(1);
    expect(repo.progress('d1')).toEqual({ contiguous: 1, max: 1, stored: 1, missing: 0 });
  });

  it('writes the per-kind rows: one prediction_batches row per batch, however many predictions it holds', () => {
    const cases: [RecordKind, unknown, string][] = [
      ['predictions', predictions('d1', 1, 5), 'prediction_batches'],
      ['alerts', alert('d1', 2), 'alerts'],
      ['metrics', metrics('d1', 3), 'metric_windows'],
      ['events', event('d1', 4), 'machine_events'],
      ['deployment', deployment('d1', 5), 'deployment_status'],
    ];
    for (const [kind, record, table] of cases) {
      expect(repo.store(kind, record as never, `h-${kind}`, 1)).toBe('stored');
      expect(count(table), table).toBe(1);
    }
    const batch = database.handle.prepare("SELECT rows, alerts FROM prediction_batches WHERE device_id = 'd1' AND seq = 1").get();
    expect(batch).toEqual({ rows: 5, alerts: 0 });
    const q = new RecordsQuery(database.handle);
    expect(q.predictions('d1', 2).map((p) => [p.seq, p.idx])).toEqual([[1, 4], [1, 3]]);
    expect(q.storedCounts('d1').predictionRows).toBe(5);
    expect(q.metricsSummary('d1')).toMatchObject({ windows: 1, readings: 24, inferences: 23, rejectedReadings: { 'non-finite': 1 } });
    expect(q.deployments('d1', 10)[0]).toMatchObject({ deploymentId: 'rollout-1/stage-1', status: 'committed' });
  });

  it('gives back each stored prediction as sent, newest first across batches, up to the limit', () => {
    const first = predictions('d1', 1, 3, { horizonHours: undefined, role: 'shadow' });
    const second = predictions('d1', 2, 2, {
      threshold: 0.5,
      predictions: [{ t: '2026-01-01T02:00:00+02:00', score: 0.1 + 0.2, alert: true }, { t: '2026-01-01T01:00:00.5Z', score: -1e-300, alert: false }],
    });
    database.handle.transaction(() => [first, second].forEach((b, i) => repo.store('predictions', b, `h${i}`, 1)))();
    const q = new RecordsQuery(database.handle);
    const shown = q.predictions('d1', 4);
    expect(shown.map((p) => [p.seq, p.idx, p.t, p.score, p.alert])).toEqual([
      [2, 1, '2026-01-01T01:00:00.5Z', -1e-300, false],
      [2, 0, '2026-01-01T02:00:00+02:00', 0.30000000000000004, true],
      [1, 2, first.predictions[2]!.t, first.predictions[2]!.score, false],
      [1, 1, first.predictions[1]!.t, first.predictions[1]!.score, false],
    ]);
    expect(shown[0]).toMatchObject({ threshold: 0.5, horizonHours: 24, role: 'active', assetId: 'asset-d1', model: second.model });
    expect(shown[2]).toMatchObject({ threshold: 0.42, horizonHours: null, role: 'shadow' });
    expect(q.predictions('d1', 1000)).toHaveLength(5);
    expect(q.predictions('d1', 0)).toEqual([]);
    expect(q.predictions('nobody', 10)).toEqual([]);
    expect(q.storedCounts('d1').predictionRows).toBe(5);
    expect(q.storedCounts('nobody').predictionRows).toBe(0);
    expect(database.handle.prepare("SELECT alerts FROM prediction_batches WHERE seq = 2").pluck().get()).toBe(1);
  });

  it('refuses to show a batch whose stored points are not what the writer writes, naming it', () => {
    repo.store('predictions', predictions('d1', 7, 2), 'h', 1);
    database.handle.prepare(`UPDATE prediction_batches SET points = '[["2026-01-01T00:00:00Z", "high", 0]]' WHERE seq = 7`).run();
    expect(() => new RecordsQuery(database.handle).predictions('d1', 5)).toThrow(expect.objectContaining({
      code: 'INTERNAL', message: 'stored prediction points do not match their format', context: expect.objectContaining({ deviceId: 'd1', seq: 7 }),
    }));
  });

  it('tracks the contiguous seq, the max and the missing count as gaps open and close', () => {
    for (const s of [1, 2, 4, 7]) storeSeq(s);
    expect(repo.progress('d1')).toEqual({ contiguous: 2, max: 7, stored: 4, missing: 3 });
    storeSeq(3);
    expect(repo.progress('d1')).toEqual({ contiguous: 4, max: 7, stored: 5, missing: 2 });
    storeSeq(6);
    storeSeq(6);
    expect(repo.progress('d1')).toEqual({ contiguous: 4, max: 7, stored: 6, missing: 1 });
    storeSeq(5);
    expect(repo.progress('d1')).toEqual({ contiguous: 7, max: 7, stored: 7, missing: 0 });
    expect(repo.progress('unknown')).toEqual({ contiguous: 0, max: 0, stored: 0, missing: 0 });
  });

  it('closes a gap that spans more than one page of later seqs', () => {
    database.handle.transaction(() => { for (let s = 2; s <= 2500; s += 1) repo.store('events', event('d1', s), 'h', 1); })();
    expect(repo.progress('d1')).toMatchObject({ contiguous: 0, max: 2500, missing: 1 });
    storeSeq(1);
    expect(repo.progress('d1')).toEqual({ contiguous: 2500, max: 2500, stored: 2500, missing: 0 });
  });
});

describe('RecordsRepo.inBatch', () => {
  it('leaves the progress row where storing the same records one transaction each leaves it', () => {
    // seqs in arrival order, split into group commits; duplicates and gaps included
    const arrivals = [[3, 1, 2, 2], [7, 5], [4], [6, 10, 8, 9, 9, 12], [11]];
    const progressOf = (deviceId: string) => database.handle.prepare(
      'SELECT contiguous_seq, max_seq, stored FROM record_progress WHERE device_id = ?').get(deviceId);
    for (const batch of arrivals) {
      const outcomes = database.handle.transaction(() =>
        repo.inBatch(() => batch.map((s) => repo.store('events', event('batched', s), `h${s}`, 1))))();
      const single = batch.map((s) => database.handle.transaction(() => repo.store('events', event('single', s), `h${s}`, 1))());
      expect(outcomes).toEqual(single);
      expect(progressOf('batched')).toEqual(progressOf('single'));
    }
    expect(repo.progress('batched')).toEqual({ contiguous: 12, max: 12, stored: 12, missing: 0 });
  });

  it('closes a gap with seqs stored in earlier batches and in this one', () => {
    database.handle.transaction(() => repo.inBatch(() => [2, 3, 6].forEach((s) => repo.store('events', event('d1', s), 'h', 1))))();
    expect(repo.progress('d1')).toEqual({ contiguous: 0, max: 6, stored: 3, missing: 3 });
    database.handle.transaction(() => repo.inBatch(() => [5, 1, 8].forEach((s) => repo.store('events', event('d1', s), 'h', 1))))();
    expect(repo.progress('d1')).toEqual({ contiguous: 3, max: 8, stored: 6, missing: 2 });
    database.handle.transaction(() => repo.inBatch(() => [4, 7].forEach((s) => repo.store('events', event('d1', s), 'h', 1))))();
    expect(repo.progress('d1')).toEqual({ contiguous: 8, max: 8, stored: 8, missing: 0 });
  });

  it('writes no progress when the batch throws (its transaction rolls back)', () => {
    const failing = database.handle.transaction(() => repo.inBatch(() => {
      repo.store('events', event('d1', 1), 'h', 1);
      throw new PdmError('INTERNAL', 'disk full');
    }));
    expect(failing).toThrow('disk full');
    expect(repo.progress('d1')).toEqual({ contiguous: 0, max: 0, stored: 0, missing: 0 });
    expect(storeSeq(1)).toBe('stored');
    expect(repo.progress('d1')).toEqual({ contiguous: 1, max: 1, stored: 1, missing: 0 });
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PdmError, type RecordKind } from '@pdm/protocol';
import { alert, deployment, event, metrics, predictions } from '../testing/fixtures.js';
import { captureLogs } from '../testing/log-capture.js';
import { tempDir } from '../testing/temp-dir.js';
import { Database } from './database.js';
import { RecordsQuery } from './records-query.js';
import { RecordsRepo } from './records-repo.js';

let dir: ReturnType<typeof tempDir>;
let database: Database;
let repo: RecordsRepo;

beforeEach(async () => {
  dir = tempDir();
  database = new Database({ dataDir: dir.path }, captureLogs('silent').log);
  await database.start();
  repo = new RecordsRepo(database.handle);
});
afterEach(async () => { await database.stop(); dir.remove(); });

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

  it('writes the per-kind rows: one prediction row per prediction, keyed (device, seq, idx)', () => {
    const cases: [RecordKind, unknown, string][] = [
      ['predictions', predictions('d1', 1, 5), 'predictions'],
      ['alerts', alert('d1', 2), 'alerts'],
      ['metrics', metrics('d1', 3), 'metric_windows'],
      ['events', event('d1', 4), 'machine_events'],
      ['deployment', deployment('d1', 5), 'deployment_status'],
    ];
    for (const [kind, record, table] of cases) {
      expect(repo.store(kind, record as never, `h-${kind}`, 1)).toBe('stored');
      expect(count(table), table).toBe(kind === 'predictions' ? 5 : 1);
    }
    const idx = database.handle.prepare("SELECT idx FROM predictions WHERE device_id = 'd1' AND seq = 1 ORDER BY idx").pluck().all();
    expect(idx).toEqual([0, 1, 2, 3, 4]);
    const q = new RecordsQuery(database.handle);
    expect(q.predictions('d1', 2).map((p) => [p.seq, p.idx])).toEqual([[1, 4], [1, 3]]);
    expect(q.metricsSummary('d1')).toMatchObject({ windows: 1, readings: 24, inferences: 23, rejectedReadings: { 'non-finite': 1 } });
    expect(q.deployments('d1', 10)[0]).toMatchObject({ deploymentId: 'rollout-1/stage-1', status: 'committed' });
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

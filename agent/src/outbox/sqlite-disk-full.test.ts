/**
 * SQLITE_FULL on the device, made real with a small `maxFileBytes` (SQLite max_page_count): no crash,
 * eviction by policy, every critical record kept while routine ones can make room, exact counters and
 * a database that still passes integrity_check. test/outbox/disk-full.test.ts does the same on a
 * really full filesystem (a tiny tmpfs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isPdmError } from '@pdm/protocol';
import { FakeClock } from '../testing/fake-clock.js';
import { captureLogger, silentLogger } from '../testing/logger.js';
import type { RecordDraft } from './outbox.js';
import { SqliteOutbox } from './sqlite-outbox.js';
import { eventDraft, metricDraft, predictionDraft } from './suite-drafts.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-outbox-full-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = new FakeClock();
let n = 0;

const bigPrediction = (): RecordDraft => predictionDraft(Array.from({ length: 150 }, (_, i) => i / 150));

function openCapped(maxFileBytes: number, file = join(dir, `full-${n++}.sqlite`), log = silentLogger): SqliteOutbox {
  const outbox = new SqliteOutbox({ file, deviceId: 'dev-1', synchronous: 'NORMAL', maxFileBytes, clock, log });
  outbox.start();
  return outbox;
}

function integrity(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

describe('SqliteOutbox at its file cap (SQLITE_FULL)', () => {
  it('evicts routine records by policy and retries: no commit fails, every critical record stays, counts are exact', () => {
    const file = join(dir, 'mixed.sqlite');
    const { log, lines } = captureLogger('warn');
    const outbox = openCapped(256 * 1024, file, log);
    const submitted = { critical: 0, metrics: 0, predictions: 0 };
    const criticalSeqs: number[] = [];
    for (let i = 0; i < 400; i++) {
      const drafts = i % 10 === 0 ? [eventDraft(i), bigPrediction()] : i % 3 === 0 ? [metricDraft(), bigPrediction()] : [bigPrediction()];
      const entries = outbox.commit(drafts);
      for (const d of drafts) submitted[d.kind === 'events' ? 'critical' : d.kind === 'metrics' ? 'metrics' : 'predictions']++;
      criticalSeqs.push(...entries.filter((e) => e.recordClass === 'critical').map((e) => e.seq));
    }
    const stats = outbox.stats();
    // the file really filled up, many times over
    expect(stats.dropped['disk-full:predictions']).toBeGreaterThan(300);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'records evicted', reason: 'disk-full:predictions' }));
    // critical: all committed, none dropped, all still pending
    expect(criticalSeqs).toHaveLength(submitted.critical);
    expect(outbox.pending({ afterSeq: 0, limit: 10_000, classes: ['critical'] }).map((e) => e.seq)).toEqual(criticalSeqs);
    expect(Object.keys(stats.dropped).filter((r) => r.endsWith(':critical'))).toEqual([]);
    // routine: every record submitted is pending or counted as dropped, exactly
    for (const cls of ['metrics', 'predictions'] as const) {
      const dropped = stats.dropped[`disk-full:${cls}`] ?? 0;
      expect(stats.byClass[cls].depth + dropped, cls).toBe(submitted[cls]);
    }
    // lowest class first: metric windows go only once no prediction is left to evict
    expect(stats.byClass.metrics.depth).toBeGreaterThan(0);
    outbox.stop();
    expect(integrity(file)).toBe('ok');
  });

  it('with only critical records left: sheds the routine part of a commit, then fails a critical one cleanly and counts it', () => {
    const file = join(dir, 'critical.sqlite');
    const outbox = openCapped(96 * 1024, file);
    const committed: number[] = [];
    let failure: unknown;
    for (let i = 0; i < 5_000 && failure === undefined; i++) {
      try {
        committed.push(...outbox.commit([eventDraft(i)]).map((e) => e.seq));
      } catch (err) {
        failure = err;
      }
    }
    expect(isPdmError(failure, 'OUTBOX_FAILED')).toBe(true);
    expect((failure as { context: Record<string, unknown> }).context).toMatchObject({ reason: 'disk-full', records: 1 });
    expect(outbox.stats().dropped).toEqual({ 'disk-full:critical': 1 });

    // a commit of routine records only is shed whole and counted; nothing throws
    expect(outbox.commit([bigPrediction(), metricDraft()])).toEqual([]);
    expect(outbox.stats().dropped).toEqual({ 'disk-full:critical': 1, 'disk-full:predictions': 1, 'disk-full:metrics': 1 });
    // a mixed one: its prediction is shed first, then its event is tried alone and refused
    expect(() => outbox.commit([bigPrediction(), eventDraft()])).toThrow(expect.objectContaining({ code: 'OUTBOX_FAILED' }));
    expect(outbox.stats().dropped).toEqual({ 'disk-full:critical': 2, 'disk-full:predictions': 2, 'disk-full:metrics': 1 });

    // nothing committed was lost, seqs did not move for what was not stored, and delivery makes room again
    expect(outbox.pending({ afterSeq: 0, limit: 10_000 }).map((e) => e.seq)).toEqual(committed);
    expect(outbox.stats().lastSeq).toBe(committed[committed.length - 1]);
    outbox.ack(committed.slice(0, 200));
    expect(outbox.commit([eventDraft()])[0]!.seq).toBe(committed.length + 1);
    outbox.stop();
    expect(integrity(file)).toBe('ok');
    const reopened = openCapped(96 * 1024, file);
    expect(reopened.stats()).toMatchObject({ lastSeq: committed.length + 1, dropped: { 'disk-full:critical': 2, 'disk-full:predictions': 2 } });
    reopened.stop();
  });
});

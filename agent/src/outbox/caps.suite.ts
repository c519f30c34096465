/**
 * The caps part of the shared outbox suite (issue 4): bounded by bytes and by age, explicit eviction
 * (lowest class first, oldest first, critical never) and exact, persistent drop counters.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_CAPS, evictionOrder, type EvictedRange, type Outbox, type OutboxCaps, type RecordClass, type RecordDraft } from './outbox.js';
import type { OutboxHarness } from './outbox.suite.js';
import { eventDraft, metricDraft, predictionDraft } from './suite-drafts.js';

const bigPrediction = (): RecordDraft => predictionDraft(Array.from({ length: 40 }, (_, i) => i / 40));

function caps(maxBytes: number, ages: Partial<OutboxCaps['maxAgeMs']> = {}): OutboxCaps {
  return { maxBytes, maxAgeMs: { ...NO_CAPS.maxAgeMs, ...ages } };
}

const seqsOf = (outbox: Outbox, recordClass?: RecordClass): number[] =>
  outbox.pending({ afterSeq: 0, limit: 10_000, ...(recordClass === undefined ? {} : { classes: [recordClass] }) }).map((e) => e.seq);

/** Payload sizes of one record of each kind as this implementation encodes them. */
function sizes(harness: OutboxHarness): { e: number; m: number; p: number } {
  const probe = harness.create();
  const [e, m, p] = probe.commit([eventDraft(), metricDraft(), bigPrediction()]).map((x) => x.payload.byteLength);
  probe.stop();
  return { e: e!, m: m!, p: p! };
}

export function describeCapsSuite(harness: OutboxHarness): void {
  describe('caps and eviction', () => {
    it('past the bytes cap evicts the lowest class first, oldest first, and counts each by reason', () => {
      const { e, m, p } = sizes(harness);
      expect(p).toBeGreaterThan(2 * m);
      const maxBytes = 3 * e + 2 * m + p;
      const outbox = harness.create({ caps: caps(maxBytes) });
      // seqs: 1 e, 2 p, 3 m, 4 p, 5 e, 6 m, 7 p, 8 e
      outbox.commit([eventDraft(), bigPrediction(), metricDraft(), bigPrediction()]);
      outbox.commit([eventDraft(), metricDraft(), bigPrediction(), eventDraft()]);
      expect(seqsOf(outbox, 'predictions')).toEqual([7]);
      expect(outbox.stats()).toMatchObject({ depth: 6, bytes: maxBytes, dropped: { 'cap-bytes:predictions': 2 } });

      // two more metric windows: the last prediction goes, and that is enough
      const size = new Map<number, number>();
      const track = (entries: readonly { seq: number; payload: Buffer }[]) => entries.forEach((x) => size.set(x.seq, x.payload.byteLength));
      track(outbox.pending({ afterSeq: 0, limit: 100 }));
      track(outbox.commit([metricDraft(), metricDraft()]));
      expect(seqsOf(outbox, 'predictions')).toEqual([]);
      expect(seqsOf(outbox, 'metrics')).toEqual([3, 6, 9, 10]);
      expect(outbox.stats().dropped).toEqual({ 'cap-bytes:predictions': 3 });

      // enough events to need room again: only metric windows are left to evict, oldest first
      const k = Math.ceil((p - 2 * m) / e) + 1;
      const events = outbox.commit(Array.from({ length: k }, (_, i) => eventDraft(i)));
      track(events);
      let excess = [...size.entries()].filter(([seq]) => ![2, 4, 7].includes(seq)).reduce((n, [, b]) => n + b, 0) - maxBytes;
      let metricsEvicted = 0;
      for (const seq of [3, 6, 9, 10]) {
        if (excess <= 0) break;
        excess -= size.get(seq)!;
        metricsEvicted++;
      }
      expect(metricsEvicted).toBeGreaterThanOrEqual(1);
      expect(seqsOf(outbox, 'metrics')).toEqual([3, 6, 9, 10].slice(metricsEvicted));
      expect(outbox.stats().dropped).toEqual({ 'cap-bytes:predictions': 3, 'cap-bytes:metrics': metricsEvicted });
      expect(outbox.stats().bytes).toBeLessThanOrEqual(maxBytes);
      expect(seqsOf(outbox, 'critical')).toEqual([1, 5, 8, ...events.map((x) => x.seq)]);
    });

    it('never evicts a critical record: with only critical ones left the store stays over its cap', () => {
      const { e } = sizes(harness);
      const outbox = harness.create({ caps: caps(2 * e) });
      outbox.commit([metricDraft(), bigPrediction()]);
      outbox.commit(Array.from({ length: 5 }, (_, i) => eventDraft(i)));
      expect(seqsOf(outbox)).toEqual([3, 4, 5, 6, 7]);
      expect(outbox.stats()).toMatchObject({ depth: 5, bytes: 5 * e, dropped: { 'cap-bytes:predictions': 1, 'cap-bytes:metrics': 1 } });
      // a routine record committed now is the only one that can go, at once
      const [late] = outbox.commit([metricDraft()]);
      expect(late!.seq).toBe(8);
      expect(seqsOf(outbox)).toEqual([3, 4, 5, 6, 7]);
      expect(outbox.stats().dropped['cap-bytes:metrics']).toBe(2);
    });

    it('evicts routine records older than their class age cap at the next commit, and at start', () => {
      const { clock } = harness;
      const ages = { predictions: 1_000, metrics: 5_000 };
      let outbox = harness.create({ caps: caps(Number.POSITIVE_INFINITY, ages) });
      outbox.commit([bigPrediction(), metricDraft(), eventDraft()]);
      clock.advance(1_000);
      outbox.commit([eventDraft()]);
      expect(seqsOf(outbox)).toEqual([1, 2, 3, 4]);
      clock.advance(1);
      outbox.commit([bigPrediction()]);
      expect(seqsOf(outbox)).toEqual([2, 3, 4, 5]);
      expect(outbox.stats().dropped).toEqual({ 'cap-age:predictions': 1 });
      clock.advance(10_000);
      outbox = harness.reopen(outbox, { caps: caps(Number.POSITIVE_INFINITY, ages) });
      expect(seqsOf(outbox)).toEqual([3, 4]);
      expect(outbox.stats().dropped).toEqual({ 'cap-age:predictions': 2, 'cap-age:metrics': 1 });
      expect(outbox.stats().oldestPendingAt).toBe(clock.now() - 11_001);
    });

    it('passes by records in flight and tells the delivery watch what it evicted', () => {
      const { e, p } = sizes(harness);
      const outbox = harness.create({ caps: caps(2 * p + e) });
      const evicted: EvictedRange[][] = [];
      const inFlight = new Set([1, 3]);
      const unwatch = outbox.watch({ inFlight: (seq) => inFlight.has(seq), evicted: (ranges) => evicted.push([...ranges]) });
      // seqs 1-4 predictions, 1 and 3 on their way to the broker: 2 and 4 go first, then the newest
      outbox.commit([bigPrediction(), bigPrediction(), bigPrediction(), bigPrediction()]);
      expect(seqsOf(outbox)).toEqual([1, 3]);
      expect(evicted).toEqual([[{ recordClass: 'predictions', throughSeq: 4, except: [1, 3], count: 2, bytes: 2 * p, reason: 'cap-bytes:predictions' }]]);
      outbox.commit([eventDraft(), eventDraft()]);
      // over the cap again, but both predictions are still in flight: nothing to evict, over it stays
      expect(seqsOf(outbox)).toEqual([1, 3, 5, 6]);
      expect(outbox.stats().dropped).toEqual({ 'cap-bytes:predictions': 2 });
      unwatch();
      outbox.commit([eventDraft()]);
      expect(seqsOf(outbox)).toEqual([3, 5, 6, 7]);
      expect(outbox.stats().dropped).toEqual({ 'cap-bytes:predictions': 3 });
      expect(evicted).toHaveLength(1);
    });

    it('keeps drop counters across a reopen and goes on counting', () => {
      const { e } = sizes(harness);
      let outbox = harness.create({ caps: caps(e) });
      outbox.commit([metricDraft(), eventDraft()]);
      outbox = harness.reopen(outbox, { caps: caps(e) });
      expect(outbox.stats().dropped).toEqual({ 'cap-bytes:metrics': 1 });
      outbox.commit([metricDraft()]);
      expect(outbox.stats()).toMatchObject({ lastSeq: 3, depth: 1, dropped: { 'cap-bytes:metrics': 2 } });
    });

    it('matches a reference model of the policy under random commits, acks, time and reopens', () => {
      const { e, m, p } = sizes(harness);
      const kinds = { e: eventDraft, m: metricDraft, p: bigPrediction } as const;
      const classOf = { e: 'critical', m: 'metrics', p: 'predictions' } as const;
      const op = fc.oneof(
        fc.record({ t: fc.constant('commit' as const), ks: fc.array(fc.constantFrom('e', 'm', 'p'), { minLength: 1, maxLength: 3 }) }),
        fc.record({ t: fc.constant('ack' as const), picks: fc.array(fc.nat(), { maxLength: 3 }) }),
        fc.record({ t: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
        fc.record({ t: fc.constant('reopen' as const) }),
      );
      fc.assert(
        fc.property(fc.integer({ min: 2 * e, max: 6 * p }), fc.array(op, { maxLength: 30 }), (maxBytes, ops) => {
          const policy = caps(maxBytes, { predictions: 2_000, metrics: 6_000 });
          let outbox = harness.create({ caps: policy });
          const model = new PolicyModel(policy);
          for (const o of ops) {
            if (o.t === 'commit') {
              const committed = outbox.commit(o.ks.map((k) => kinds[k]()));
              expect(committed.map((x) => x.recordClass)).toEqual(o.ks.map((k) => classOf[k]));
              model.commit(committed.map((x) => ({ cls: x.recordClass, bytes: x.payload.byteLength })), harness.clock.now());
            } else if (o.t === 'ack') {
              const seqs = o.picks.map((i) => i % (model.lastSeq + 2));
              outbox.ack(seqs);
              model.ack(seqs);
            } else if (o.t === 'wait') {
              harness.clock.advance(o.ms);
            } else {
              outbox = harness.reopen(outbox, { caps: policy });
              model.applyCaps(harness.clock.now());
            }
            expect(seqsOf(outbox)).toEqual(model.entries.map((x) => x.seq));
            expect(outbox.stats()).toMatchObject({ lastSeq: model.lastSeq, depth: model.entries.length, bytes: model.bytes(), delivered: model.delivered });
            expect(outbox.stats().dropped).toEqual(model.dropped);
          }
          outbox.stop();
        }),
        { numRuns: 30 },
      );
    });
  });
}

/** The policy written the plain way, to check both implementations against. */
class PolicyModel {
  entries: { seq: number; cls: RecordClass; bytes: number; at: number }[] = [];
  lastSeq = 0;
  delivered = 0;
  dropped: Record<string, number> = {};

  constructor(private readonly caps: OutboxCaps) {}

  bytes(): number {
    return this.entries.reduce((n, x) => n + x.bytes, 0);
  }

  commit(records: { cls: RecordClass; bytes: number }[], at: number): void {
    for (const r of records) this.entries.push({ seq: ++this.lastSeq, ...r, at });
    this.applyCaps(at);
  }

  ack(seqs: number[]): void {
    for (const seq of new Set(seqs)) {
      const i = this.entries.findIndex((x) => x.seq === seq);
      if (i < 0) continue;
      this.entries.splice(i, 1);
      this.delivered++;
    }
  }

  applyCaps(now: number): void {
    for (const cls of evictionOrder) {
      const maxAge = this.caps.maxAgeMs[cls];
      while (true) {
        const oldest = this.entries.find((x) => x.cls === cls);
        if (oldest === undefined || !(now - oldest.at > maxAge)) break;
        this.remove(oldest, `cap-age:${cls}`);
      }
    }
    for (const cls of evictionOrder) {
      while (this.bytes() > this.caps.maxBytes) {
        const oldest = this.entries.find((x) => x.cls === cls);
        if (oldest === undefined) break;
        this.remove(oldest, `cap-bytes:${cls}`);
      }
    }
  }

  private remove(entry: { seq: number }, reason: string): void {
    this.entries = this.entries.filter((x) => x !== entry);
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }
}

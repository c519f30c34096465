/**
 * The one test suite every Outbox implementation must pass (like MQTT.js's IStore suite and
 * aedes-persistence's abstract.js). `reopen` simulates a restart of the agent on the same storage.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPdmError, recordSchemas } from '@pdm/protocol';
import type { FakeClock } from '../testing/fake-clock.js';
import { metricWindow } from './agent-records.js';
import { describeCapsSuite } from './caps.suite.js';
import type { Outbox, OutboxCaps } from './outbox.js';
import { eventDraft, metricDraft, predictionDraft } from './suite-drafts.js';

export interface HarnessOptions {
  readonly deviceId?: string;
  readonly caps?: OutboxCaps;
}

export interface OutboxHarness {
  /** The clock every outbox of this harness reads (commit times, age caps). */
  readonly clock: FakeClock;
  /** A new outbox on fresh storage (default device `dev-1`, no caps), started. */
  create(options?: HarnessOptions): Outbox;
  /** Stops `outbox` and starts a new instance on the same storage (optionally another device or caps). */
  reopen(outbox: Outbox, options?: HarnessOptions): Outbox;
}

export { eventDraft, metricDraft, predictionDraft } from './suite-drafts.js';

function decoded(payload: Buffer): Record<string, unknown> {
  return JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
}

export function describeOutboxSuite(name: string, harness: OutboxHarness): void {
  describe(`Outbox contract: ${name}`, () => {
    it('starts empty at seq 0', () => {
      const outbox = harness.create();
      const none = { depth: 0, bytes: 0 };
      expect(outbox.stats()).toEqual({
        lastSeq: 0, depth: 0, bytes: 0, delivered: 0, dropped: {}, oldestPendingAt: undefined, quarantined: [],
        statesNotStored: 0, stateStoredAt: undefined, stateNotStoredSince: undefined,
        byClass: { critical: none, metrics: none, predictions: none, samples: none },
      });
      expect(outbox.pending({ afterSeq: 0, limit: 10 })).toEqual([]);
    });

    it('assigns consecutive seqs from 1 and stamps deviceId and seq into the payload', () => {
      const outbox = harness.create({ deviceId: 'dev-a' });
      const first = outbox.commit([eventDraft(1)]);
      const next = outbox.commit([predictionDraft(), eventDraft(2), eventDraft(3)]);
      expect([...first, ...next].map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(next.map((e) => [e.kind, e.recordClass])).toEqual([
        ['predictions', 'predictions'],
        ['events', 'critical'],
        ['events', 'critical'],
      ]);
      expect(decoded(first[0]!.payload)).toMatchObject({ deviceId: 'dev-a', seq: 1, type: 'failure', component: 'comp1' });
      const stats = outbox.stats();
      expect(stats.lastSeq).toBe(4);
      expect(stats.depth).toBe(4);
      expect(stats.bytes).toBe([...first, ...next].reduce((n, e) => n + e.payload.byteLength, 0));
    });

    it('commits all drafts of a call or none: an invalid one rejects the lot', () => {
      const outbox = harness.create();
      outbox.commit([eventDraft()]);
      const bad = predictionDraft([Number.NaN]);
      let error: unknown;
      try {
        outbox.commit([eventDraft(), bad]);
      } catch (err) {
        error = err;
      }
      expect(isPdmError(error, 'PAYLOAD_INVALID')).toBe(true);
      expect((error as Error).message).toMatch(/predictions\.0\.score/);
      expect(outbox.stats()).toMatchObject({ lastSeq: 1, depth: 1 });
      expect(outbox.commit([eventDraft()])[0]!.seq).toBe(2);
    });

    it('commits a record the agent built as the validating path encodes it, and still refuses an invalid plain draft', () => {
      const outbox = harness.create({ deviceId: 'dev-a' });
      const built = metricWindow({
        assetId: 'm3', start: Date.UTC(2015, 0, 1), end: Date.UTC(2015, 0, 1, 1), readings: 3, rejected: { missing: 1 },
        inferences: 2, inferenceErrors: 0, alerts: 0, latencyMs: { p50: 0.5, p95: 0.75, max: 1 }, model: { name: 'tiny', version: '1.0.0' },
      });
      const [fast, plain] = outbox.commit([built, { kind: built.kind, record: built.record }]);
      expect(fast!.payload.toString('utf8')).toBe(plain!.payload.toString('utf8').replace('"seq":2,', '"seq":1,'));
      expect(recordSchemas.metrics.safeParse(decoded(fast!.payload)).success).toBe(true);
      const malformed = { kind: built.kind, record: { ...built.record, readings: -1 } };
      expect(() => outbox.commit([malformed])).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID', message: expect.stringMatching(/readings/) }));
      expect(outbox.stats().lastSeq).toBe(2);
    });

    it('returns pending entries in seq order after a seq, up to a limit', () => {
      const outbox = harness.create();
      outbox.commit(Array.from({ length: 5 }, (_, i) => eventDraft(i)));
      expect(outbox.pending({ afterSeq: 0, limit: 3 }).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(outbox.pending({ afterSeq: 3, limit: 10 }).map((e) => e.seq)).toEqual([4, 5]);
      outbox.ack([1, 4]);
      expect(outbox.pending({ afterSeq: 0, limit: 10 }).map((e) => e.seq)).toEqual([2, 3, 5]);
    });

    it('deletes on ack, ignores unknown and repeated acks, and counts deliveries', () => {
      const outbox = harness.create();
      const entries = outbox.commit([eventDraft(1), eventDraft(2), eventDraft(3)]);
      outbox.ack([2]);
      outbox.ack([2, 99]);
      const stats = outbox.stats();
      expect(stats).toMatchObject({ lastSeq: 3, depth: 2, delivered: 1 });
      expect(stats.bytes).toBe(entries[0]!.payload.byteLength + entries[2]!.payload.byteLength);
      outbox.ack([1, 3]);
      expect(outbox.stats()).toMatchObject({ depth: 0, bytes: 0, delivered: 3 });
    });

    it('keeps seq, unacknowledged entries and counters across a reopen', () => {
      let outbox = harness.create();
      const entries = outbox.commit([eventDraft(1), predictionDraft(), eventDraft(3)]);
      outbox.ack([1]);
      outbox = harness.reopen(outbox);
      expect(outbox.stats()).toMatchObject({ lastSeq: 3, depth: 2, delivered: 1 });
      const pending = outbox.pending({ afterSeq: 0, limit: 10 });
      expect(pending.map((e) => e.seq)).toEqual([2, 3]);
      expect(pending[0]!.payload.equals(entries[1]!.payload)).toBe(true);
      expect(pending[0]!.committedAt).toBe(entries[1]!.committedAt);
      expect(outbox.commit([eventDraft()])[0]!.seq).toBe(4);
    });

    it('never reuses a seq, even after everything was delivered and the store reopened', () => {
      let outbox = harness.create();
      outbox.commit([eventDraft(), eventDraft()]);
      outbox.ack([1, 2]);
      outbox = harness.reopen(outbox);
      expect(outbox.stats()).toMatchObject({ lastSeq: 2, depth: 0, delivered: 2 });
      expect(outbox.commit([eventDraft()])[0]!.seq).toBe(3);
    });

    it('commits a state with the records, replacing the last one, all or none, and keeps it across a reopen', () => {
      let outbox = harness.create();
      const value = (text: string): Buffer => Buffer.from(text, 'utf8');
      expect(outbox.state('tail')).toBeUndefined();
      outbox.commit([predictionDraft()], { key: 'tail', value: value('one') });
      expect(outbox.state('tail')?.toString()).toBe('one');
      // a refused commit writes neither its records nor its state
      expect(() => outbox.commit([eventDraft(), predictionDraft([Number.NaN])], { key: 'tail', value: value('two') })).toThrow(/score/);
      expect(outbox.state('tail')?.toString()).toBe('one');
      expect(outbox.stats().lastSeq).toBe(1);
      // a state alone is its own transaction and assigns no seq
      expect(outbox.commit([], { key: 'tail', value: value('three') })).toEqual([]);
      outbox.commit([eventDraft(1)], { key: 'other', value: value('x') });
      outbox = harness.reopen(outbox);
      expect(outbox.state('tail')?.toString()).toBe('three');
      expect(outbox.state('other')?.toString()).toBe('x');
      expect(outbox.stats().lastSeq).toBe(2);
      // several states in one commit: all or none, with the records or alone
      expect(() => outbox.commit([predictionDraft([Number.NaN])], [{ key: 'tail', value: value('four') }, { key: 'other', value: value('y') }])).toThrow(/score/);
      expect([outbox.state('tail')?.toString(), outbox.state('other')?.toString()]).toEqual(['three', 'x']);
      outbox.commit([eventDraft(2)], [{ key: 'tail', value: value('five') }, { key: 'other', value: value('z') }]);
      outbox.commit([], [{ key: 'tail', value: value('six') }, { key: 'other', value: value('w') }]);
      outbox = harness.reopen(outbox);
      expect([outbox.state('tail')?.toString(), outbox.state('other')?.toString()]).toEqual(['six', 'w']);
    });

    it('commitWithStates: records and states in one transaction, saying the states were stored, or neither on a refused draft', () => {
      const outbox = harness.create();
      const seen: number[][] = [];
      outbox.onCommit((entries) => seen.push(entries.map((e) => e.seq)));
      const value = (text: string): Buffer => Buffer.from(text, 'utf8');
      const committed = outbox.commitWithStates([eventDraft(), predictionDraft()], [{ key: 'tail', value: value('one') }]);
      expect(committed.statesStored).toBe(true);
      expect(committed.entries.map((e) => [e.seq, e.kind])).toEqual([[1, 'events'], [2, 'predictions']]);
      expect(outbox.state('tail')?.toString()).toBe('one');
      // states alone: stored, no entry, no seq, no listener call
      expect(outbox.commitWithStates([], [{ key: 'tail', value: value('two') }])).toEqual({ entries: [], statesStored: true });
      expect(outbox.state('tail')?.toString()).toBe('two');
      expect(outbox.commitWithStates([], [])).toEqual({ entries: [], statesStored: true });
      expect(() => outbox.commitWithStates([predictionDraft([Number.NaN])], [{ key: 'tail', value: value('three') }])).toThrow(/score/);
      expect(outbox.state('tail')?.toString()).toBe('two');
      expect(outbox.stats()).toMatchObject({ lastSeq: 2, statesNotStored: 0 });
      expect(seen).toEqual([[1, 2]]);
    });

    it('dates the last commit that stored the resume point, also of states alone, and keeps the date across a reopen', () => {
      const tail = (v: string) => ({ key: 'feature-tail:m1', value: Buffer.from(v), resumePoint: true });
      let outbox = harness.create();
      outbox.commit([eventDraft()]);
      expect(outbox.stats().stateStoredAt).toBeUndefined();
      const first = harness.clock.now();
      outbox.commit([eventDraft()], tail('one'));
      expect(outbox.stats()).toMatchObject({ stateStoredAt: first, statesNotStored: 0, stateNotStoredSince: undefined });
      harness.clock.advance(5000);
      outbox.commit([eventDraft()]);
      expect(outbox.stats().stateStoredAt).toBe(first);
      // the drift counts alone (committed whenever they change) say nothing of where a restart resumes
      outbox.commitWithStates([], [{ key: 'drift:m1', value: Buffer.from('d') }]);
      expect(outbox.stats().stateStoredAt).toBe(first);
      outbox.commitWithStates([], [tail('two'), { key: 'drift:m1', value: Buffer.from('e') }]);
      expect(outbox.stats().stateStoredAt).toBe(first + 5000);
      harness.clock.advance(5000);
      outbox.commitWithStates([], [{ key: 'drift:m1', value: Buffer.from('f') }]);
      outbox = harness.reopen(outbox);
      expect(outbox.stats()).toMatchObject({ stateStoredAt: first + 5000, statesNotStored: 0, stateNotStoredSince: undefined });
    });

    it('refuses storage that belongs to another device', () => {
      const outbox = harness.create({ deviceId: 'dev-a' });
      outbox.commit([eventDraft()]);
      let error: unknown;
      try {
        harness.reopen(outbox, { deviceId: 'dev-b' });
      } catch (err) {
        error = err;
      }
      expect(isPdmError(error, 'OUTBOX_FAILED')).toBe(true);
      expect((error as Error).message).toMatch(/another device/);
    });

    it('tells listeners about each commit', () => {
      const outbox = harness.create();
      const seen: number[][] = [];
      const off = outbox.onCommit((entries) => seen.push(entries.map((e) => e.seq)));
      outbox.commit([eventDraft(), eventDraft()]);
      off();
      outbox.commit([eventDraft()]);
      expect(seen).toEqual([[1, 2]]);
    });

    it('matches a model under random commits, acks and reopens', () => {
      const op = fc.oneof(
        fc.record({ t: fc.constant('commit' as const), n: fc.integer({ min: 1, max: 4 }) }),
        fc.record({ t: fc.constant('ack' as const), picks: fc.array(fc.nat(), { maxLength: 4 }) }),
        fc.record({ t: fc.constant('reopen' as const) }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
          let outbox = harness.create();
          const open = new Set<number>();
          let lastSeq = 0;
          let delivered = 0;
          for (const o of ops) {
            if (o.t === 'commit') {
              const seqs = outbox.commit(Array.from({ length: o.n }, (_, i) => eventDraft(i))).map((e) => e.seq);
              expect(seqs).toEqual(Array.from({ length: o.n }, (_, i) => lastSeq + 1 + i));
              seqs.forEach((s) => open.add(s));
              lastSeq += o.n;
            } else if (o.t === 'ack') {
              const seqs = o.picks.map((p) => p % (lastSeq + 2));
              for (const s of new Set(seqs)) if (open.delete(s)) delivered++;
              outbox.ack(seqs);
            } else {
              outbox = harness.reopen(outbox);
            }
            expect(outbox.pending({ afterSeq: 0, limit: 1000 }).map((e) => e.seq)).toEqual([...open].sort((a, b) => a - b));
            expect(outbox.stats()).toMatchObject({ lastSeq, depth: open.size, delivered });
          }
          outbox.stop();
        }),
        { numRuns: 40 },
      );
    });

    it('keeps depth and bytes per class and the commit time of the oldest pending entry', () => {
      const outbox = harness.create();
      const t0 = harness.clock.now();
      const [e1] = outbox.commit([eventDraft(1)]);
      harness.clock.advance(1000);
      const [p2, m3] = outbox.commit([predictionDraft(), metricDraft()]);
      const stats = outbox.stats();
      expect(stats.byClass).toEqual({
        critical: { depth: 1, bytes: e1!.payload.byteLength },
        predictions: { depth: 1, bytes: p2!.payload.byteLength },
        metrics: { depth: 1, bytes: m3!.payload.byteLength },
        samples: { depth: 0, bytes: 0 },
      });
      expect(stats.oldestPendingAt).toBe(t0);
      outbox.ack([1]);
      expect(outbox.stats().oldestPendingAt).toBe(t0 + 1000);
      expect(outbox.stats().byClass.critical).toEqual({ depth: 0, bytes: 0 });
    });

    it('filters pending entries by class and by a highest seq', () => {
      const outbox = harness.create();
      outbox.commit([eventDraft(), predictionDraft(), metricDraft(), eventDraft(), predictionDraft(), metricDraft()]);
      const seqs = (q: Parameters<Outbox['pending']>[0]) => outbox.pending(q).map((e) => e.seq);
      expect(seqs({ afterSeq: 0, limit: 10, classes: ['critical'] })).toEqual([1, 4]);
      expect(seqs({ afterSeq: 1, limit: 10, classes: ['critical'] })).toEqual([4]);
      expect(seqs({ afterSeq: 0, limit: 10, classes: ['metrics', 'predictions', 'samples'] })).toEqual([2, 3, 5, 6]);
      expect(seqs({ afterSeq: 0, limit: 3, classes: ['metrics', 'predictions'] })).toEqual([2, 3, 5]);
      expect(seqs({ afterSeq: 2, limit: 10, throughSeq: 5, classes: ['metrics', 'predictions'] })).toEqual([3, 5]);
      expect(seqs({ afterSeq: 0, limit: 10, throughSeq: 4 })).toEqual([1, 2, 3, 4]);
      expect(seqs({ afterSeq: 0, limit: 10, classes: ['samples'] })).toEqual([]);
    });

    describeCapsSuite(harness);
  });
}

/**
 * The agent's own records skip the schema at commit (agent-records.ts), so these properties carry the
 * proof: over random and edge inputs, each builder refuses (PAYLOAD_INVALID) exactly the inputs whose
 * record the schema refuses, and for every input it takes, the payload is byte for byte what the
 * validating path (zod, then JSON.stringify) makes of the same record, the way the agent encoded it
 * before. The "naive" records below are built the way the agent's code built them before the builders.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PdmError, isPdmError, recordSchemas, type ModelRef, type ReadingRejectReason, type RecordKind } from '@pdm/protocol';
import { alertRecord, metricWindow, predictionBatch, type AlertFields, type AnyBuiltDraft, type MetricWindowFields } from './agent-records.js';
import { encodeDraft, type RecordDraft } from './outbox.js';

const MIN_TIME_MS = -62_167_219_200_000;
const END_TIME_MS = 253_402_300_800_000;
const RUNS = { numRuns: 400 };

/** Date's toISOString, or a string no schema takes where it throws (NaN, beyond year 275760). */
const naiveIso = (ms: number): string => {
  try {
    return new Date(ms).toISOString();
  } catch {
    return 'not a time';
  }
};

/** The payload, or the code of the PdmError that refused it. */
function outcome(encode: () => Buffer | undefined): string {
  try {
    return encode()?.toString('utf8') ?? 'no record';
  } catch (err) {
    if (err instanceof PdmError) return `refused ${err.code}`;
    throw err;
  }
}

/** Both paths give the same outcome: the same bytes, or both refuse with the same code. */
function samePaths(kind: RecordKind, deviceId: string, seq: number, build: () => AnyBuiltDraft | undefined, naive: () => RecordDraft['record']): void {
  const validated = outcome(() => encodeDraft(deviceId, seq, { kind, record: naive() } as RecordDraft));
  let draft: AnyBuiltDraft | undefined;
  const built = outcome(() => {
    draft = build();
    return draft === undefined ? undefined : encodeDraft(deviceId, seq, draft);
  });
  // a builder that returns nothing had nothing to build: the schema refuses the empty record
  expect(built === 'no record' ? validated.startsWith('refused') : built).toBe(built === 'no record' ? true : validated);
  if (draft !== undefined) {
    // what the agent's other parts read of the draft is the record the payload carries
    expect(outcome(() => encodeDraft(deviceId, seq, { kind: draft!.kind, record: draft!.record } as RecordDraft))).toBe(validated);
  }
}

/**
 * Each field has values a record can hold (edges included) and values it cannot. Half the cases draw only
 * the former (so the byte comparison runs often), half draw either (so refusals are tried field by field).
 */
type Field<T> = { readonly good: fc.Arbitrary<T>; readonly bad: fc.Arbitrary<T> };
const pick = <T,>(clean: boolean, f: Field<T>): fc.Arbitrary<T> =>
  clean ? f.good : fc.oneof({ weight: 4, arbitrary: f.good }, { weight: 1, arbitrary: f.bad });

const time: Field<number> = {
  good: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2016, 0, 1) }) },
    { weight: 1, arbitrary: fc.constantFrom(MIN_TIME_MS, MIN_TIME_MS - 0.5, END_TIME_MS - 1, END_TIME_MS - 0.5, 0, -1, -0.5, 1.25) },
    { weight: 1, arbitrary: fc.double({ min: MIN_TIME_MS, max: END_TIME_MS - 1, noNaN: true }) },
  ),
  bad: fc.oneof(
    fc.constantFrom(MIN_TIME_MS - 1, END_TIME_MS, 8.64e15, 8.64e15 + 1, Number.NaN, Infinity, -Infinity),
    fc.integer({ min: MIN_TIME_MS - 1e6, max: MIN_TIME_MS - 1 }), fc.double({ min: END_TIME_MS, max: 1e16, noNaN: true }),
  ),
};
const finiteNumber: Field<number> = {
  good: fc.oneof(
    { weight: 4, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
    { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.constantFrom(-0, Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE, 1e21, 1e-7, 123e-20) },
  ),
  bad: fc.constantFrom(Number.NaN, Infinity, -Infinity),
};
const nonNegative: Field<number> = {
  good: fc.oneof(fc.double({ min: 0, max: 1e4, noNaN: true }), fc.constantFrom(0, -0, Number.MAX_VALUE)),
  bad: fc.constantFrom(-1e-9, -1, Number.NaN, Infinity),
};
const count: Field<number> = {
  good: fc.oneof(fc.nat(), fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER)),
  bad: fc.constantFrom(Number.MAX_SAFE_INTEGER + 1, -1, 0.5, Number.NaN, Infinity),
};
const name: Field<string> = {
  good: fc.oneof(
    fc.constantFrom('machine-1', 'm3', 'a "quoted" \\ name', 'Maschine \u00fc \u2028', 'x'.repeat(128)),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((n) => n.length <= 128 && !/[\u0000-\u001f]/.test(n)),
  ),
  bad: fc.oneof(fc.constantFrom('', 'x'.repeat(129), 'tab\there', 'nl\n', '\u0000'), fc.string({ unit: 'binary', maxLength: 40 })),
};
const modelRef: Field<ModelRef> = {
  good: fc.oneof(
    fc.constantFrom({ name: 'azure-pdm-failure-24h', version: '1.0.0' }, { name: 'tiny', version: '2.0.0+build.7' }),
    // key order as the schema's output writes it (name, version) or not: the payload must not care
    fc.record({ version: fc.constantFrom('1.0.0', 'v_2'), name: name.good }),
  ),
  bad: fc.oneof(fc.record({ version: fc.constantFrom('bad version', '', 'v/1'), name: name.good }), fc.record({ name: name.bad, version: fc.constant('1.0.0') })),
};
const deviceId: Field<string> = { good: fc.constantFrom('edge-1', 'E.d_g-e', 'e'.repeat(64)), bad: fc.constantFrom('edge 1', '', '-x', 'e'.repeat(65)) };
const seq: Field<number> = {
  good: fc.oneof(fc.integer({ min: 1, max: 1e9 }), fc.constant(Number.MAX_SAFE_INTEGER)),
  bad: fc.constantFrom(0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN),
};
const horizon: Field<number | undefined> = {
  good: fc.oneof(fc.constantFrom(undefined, 24, 8760, Number.MIN_VALUE), fc.double({ min: Number.MIN_VALUE, max: 8760, noNaN: true })),
  bad: fc.constantFrom(0, -0, 8760.5, -1, Number.NaN, Infinity),
};
const header = (clean: boolean) => fc.record({ deviceId: pick(clean, deviceId), seq: pick(clean, seq) });
const clean = fc.boolean();

describe('agent records: prediction batches', () => {
  it('are refused exactly where the schema refuses them, and otherwise encode as the validating path does', () => {
    const input = clean.chain((c) => fc.record({
      h: header(c), assetId: pick(c, name), model: pick(c, modelRef), role: fc.constantFrom('active' as const, 'shadow' as const),
      threshold: pick(c, finiteNumber), horizonHours: pick(c, horizon),
      rs: fc.array(fc.record({ time: pick(c, time), score: pick(c, finiteNumber), alert: fc.boolean() }), { maxLength: c ? 12 : 3 }),
    }));
    fc.assert(
      fc.property(input, ({ h, assetId, model, role, threshold, horizonHours, rs }) => {
        samePaths('predictions', h.deviceId, h.seq,
          () => predictionBatch({ assetId, model, role, spec: { threshold, horizonHours } }, {
            times: rs.map((r) => r.time), scores: rs.map((r) => r.score), alerts: rs.map((r) => r.alert),
          }),
          () => {
            const predictions = rs.map((r) => ({ t: naiveIso(r.time), score: r.score, alert: r.alert }));
            return {
              time: predictions[predictions.length - 1]?.t ?? 'none', assetId, model, role,
              ...(horizonHours === undefined ? {} : { horizonHours }), threshold, predictions,
            };
          });
      }),
      RUNS,
    );
  });

  it('holds at most MAX_PREDICTIONS_PER_BATCH rows and none at all is no record', () => {
    const head = { assetId: 'm3', model: { name: 'tiny', version: '1.0.0' }, role: 'active' as const, spec: { threshold: 0.5, horizonHours: 24 } };
    const rows = (n: number) => ({ times: Array.from({ length: n }, (_, i) => i * 1000), scores: new Array<number>(n).fill(0.25), alerts: new Array<boolean>(n).fill(false) });
    expect(predictionBatch(head, rows(0))).toBeUndefined();
    expect(predictionBatch(head, rows(1000))?.record.predictions).toHaveLength(1000);
    expect(() => predictionBatch(head, rows(1001))).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID' }));
    expect(recordSchemas.predictions.safeParse({ deviceId: 'd', seq: 1, ...predictionBatch(head, rows(1000))!.record }).success).toBe(true);
  });

  it('refuses a non-finite score before anything is committed, naming the row', () => {
    const head = { assetId: 'm3', model: { name: 'tiny', version: '1.0.0' }, role: 'shadow' as const, spec: { threshold: 0.5, horizonHours: undefined } };
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      let error: unknown;
      try {
        predictionBatch(head, { times: [0, 1000], scores: [0.5, bad], alerts: [false, false] });
      } catch (err) {
        error = err;
      }
      expect(isPdmError(error, 'PAYLOAD_INVALID')).toBe(true);
      expect((error as Error).message).toMatch(/predictions\.1\.score/);
    }
  });
});

describe('agent records: alerts', () => {
  it('are refused exactly where the schema refuses them, and otherwise encode as the validating path does', () => {
    const message: Field<string> = {
      good: fc.oneof(fc.constantFrom('score 0.9100 >= threshold 0.5', 'x'.repeat(512), ''), fc.string({ unit: 'binary', maxLength: 60 })),
      bad: fc.constantFrom('x'.repeat(513)),
    };
    const deploymentIdField: Field<string | undefined> = {
      good: fc.oneof(fc.constantFrom(undefined, 'dep-1', 'd'.repeat(128)), fc.string({ unit: 'binary', minLength: 1, maxLength: 20 })),
      bad: fc.constantFrom('', 'd'.repeat(129)),
    };
    const input = clean.chain((c) => fc.record({
      h: header(c),
      f: fc.record({
        assetId: pick(c, name), model: pick(c, modelRef), time: pick(c, time), score: pick(c, finiteNumber), threshold: pick(c, finiteNumber),
        severity: fc.constantFrom('warning' as const, 'critical' as const), message: pick(c, message),
        action: fc.constantFrom(undefined, 'triggered' as const, 'review' as const), deploymentId: pick(c, deploymentIdField),
      }),
    }));
    fc.assert(
      fc.property(input, ({ h, f }: { h: { deviceId: string; seq: number }; f: AlertFields }) => {
        const { action, deploymentId } = f;
        samePaths('alerts', h.deviceId, h.seq, () => alertRecord(f), () => ({
          time: naiveIso(f.time), assetId: f.assetId, model: f.model, score: f.score, threshold: f.threshold, severity: f.severity,
          windowEnd: naiveIso(f.time), message: f.message,
          ...(action === undefined ? {} : { action }), ...(deploymentId === undefined ? {} : { deploymentId }),
        }));
      }),
      RUNS,
    );
  });
});

describe('agent records: metric windows', () => {
  it('are refused exactly where the schema refuses them, and otherwise encode as the validating path does', () => {
    const length: Field<number> = { good: fc.constantFrom(3_600_000, 86_400_000, 0, 0.5, 1), bad: fc.constantFrom(-1, -1.5, -3_600_000) };
    const input = clean.chain((c) => fc.record({
      h: header(c),
      f: fc.record({
        assetId: pick(c, name), start: pick(c, time), length: pick(c, length), readings: pick(c, count),
        rejected: fc.dictionary(fc.constantFrom<ReadingRejectReason>('missing', 'wrong-type', 'non-finite', 'out-of-range', 'unknown-category'), pick(c, count)),
        inferences: pick(c, count), inferenceErrors: pick(c, count), alerts: pick(c, count),
        latencyMs: fc.option(fc.record({ p50: pick(c, nonNegative), p95: pick(c, nonNegative), max: pick(c, nonNegative) }), { nil: undefined }),
        model: fc.option(pick(c, modelRef), { nil: undefined }), role: fc.constantFrom(undefined, 'active' as const, 'shadow' as const),
      }),
    }));
    fc.assert(
      fc.property(input, ({ h, f }) => {
        const { length, latencyMs, model, role, ...rest } = f;
        const window: MetricWindowFields = {
          ...rest, end: f.start + length,
          ...(latencyMs === undefined ? {} : { latencyMs }), ...(model === undefined ? {} : { model }), ...(role === undefined ? {} : { role }),
        };
        samePaths('metrics', h.deviceId, h.seq, () => metricWindow(window), () => ({
          time: naiveIso(window.end), assetId: f.assetId, windowStart: naiveIso(f.start), windowEnd: naiveIso(window.end),
          readings: f.readings, rejectedReadings: { ...f.rejected }, inferences: f.inferences, inferenceErrors: f.inferenceErrors,
          alerts: f.alerts, ...(latencyMs === undefined ? {} : { latencyMs }), ...(model === undefined ? {} : { model }),
          ...(role === undefined ? {} : { role }),
        }));
      }),
      RUNS,
    );
  });
});

describe('agent records: metric window bounds', () => {
  it('compare as the record times compare, a fraction of a ms dropped toward zero', () => {
    const window = (start: number, end: number): MetricWindowFields => ({
      assetId: 'm3', start, end, readings: 1, rejected: {}, inferences: 0, inferenceErrors: 0, alerts: 0,
    });
    const naive = (start: number, end: number) => ({
      time: naiveIso(end), assetId: 'm3', windowStart: naiveIso(start), windowEnd: naiveIso(end),
      readings: 1, rejectedReadings: {}, inferences: 0, inferenceErrors: 0, alerts: 0,
    });
    for (const [start, end] of [[1.75, 1.25], [1, 0.5], [-0.25, -0.75], [-0.5, -1.25], [5, 5]] as const) {
      samePaths('metrics', 'edge-1', 1, () => metricWindow(window(start, end)), () => naive(start, end));
    }
    expect(metricWindow(window(1.75, 1.25)).record.windowStart).toBe('1970-01-01T00:00:00.001Z');
    expect(() => metricWindow(window(1, 0.5))).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID' }));
  });
});

describe('agent records: the outbox trusts only its builders', () => {
  it('validates a plain copy of a built record, so a copy made invalid is refused', () => {
    const built = predictionBatch(
      { assetId: 'm3', model: { name: 'tiny', version: '1.0.0' }, role: 'active', spec: { threshold: 0.5, horizonHours: 24 } },
      { times: [0], scores: [0.75], alerts: [true] },
    )!;
    const tampered = { ...built, record: { ...built.record, predictions: [{ t: built.record.predictions[0]!.t, score: Number.NaN, alert: true }] } };
    expect(() => encodeDraft('edge-1', 1, tampered)).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID', message: expect.stringMatching(/predictions\.0\.score/) }));
    expect(() => encodeDraft('edge-1', 1, { ...built, record: { ...built.record, assetId: '' } })).toThrow(expect.objectContaining({ code: 'PAYLOAD_INVALID' }));
    // the built record itself encodes, and as the validating path encodes its plain copy
    expect(encodeDraft('edge-1', 1, built)).toEqual(encodeDraft('edge-1', 1, { kind: built.kind, record: built.record }));
  });
});

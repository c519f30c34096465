/**
 * The fast path (fast-decode.ts) skips zod, so these properties carry the proof that the boundary is as
 * validated as before. Over random and edge payloads (half drawn from values a record can hold, half from
 * anything: non-finite numbers, numbers as strings, wrong types, missing, extra and reordered keys, bad
 * times, long and unicode strings, "__proto__" keys), as the bytes an agent would publish:
 * (i) whenever the fast path accepts, zod accepts and returns a deep-equal record with the same key order;
 * (ii) decodeUpstream gives exactly the outcome of the full zod path (codec.ts decodePayload): the same
 * record, or a refusal with zod's code and message.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePayload, isPdmError, parseTopic, recordSchemas, upTopic, type RecordKind } from '@pdm/protocol';
import { decodeUpstream } from './decode.js';
import { LATENCY_KEYS, METRIC_WINDOW_KEYS, MODEL_REF_KEYS, PREDICTION_BATCH_KEYS, PREDICTION_KEYS, fastRecord } from './fast-decode.js';

const RUNS = { numRuns: 800 };
const DEVICE = 'edge-7';

/** Numbers JSON.stringify cannot write but a payload can carry: 1e400 parses as Infinity, -0 as -0. */
const INF = '@@inf@@';
const NEG_INF = '@@-inf@@';
const NEG_ZERO = '@@-0@@';
function toJson(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v === Infinity) return INF;
    if (v === -Infinity) return NEG_INF;
    return Object.is(v, -0) ? NEG_ZERO : v;
  });
  return text.replaceAll(`"${INF}"`, '1e400').replaceAll(`"${NEG_INF}"`, '-1e400').replaceAll(`"${NEG_ZERO}"`, '-0');
}

/**
 * A field's values: `good` ones a record can hold (edges included); `bad` ones it cannot, listed so that
 * each is also tried alone in an otherwise valid record (the table tests), and drawn at random with
 * values of the wrong type (the properties).
 */
type Field = { readonly good: fc.Arbitrary<unknown>; readonly bad: readonly unknown[]; readonly moreBad?: fc.Arbitrary<unknown> };
/** Values of the wrong type for any field, numbers and non-finite numbers as strings among them. */
const WRONG_TYPE: readonly unknown[] = ['NaN', 'Infinity', '-Infinity', '1', '24', '0.5', 'true', '', null, true, false, [], ['x'], {}, Infinity, -Infinity];
const wrongType = fc.oneof(fc.constantFrom(...WRONG_TYPE), fc.jsonValue({ maxDepth: 2 }));
/** A field's bad values, other types, and a good value wrapped in an array (which a check that coerces would pass). */
const badOf = (f: Field): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...f.bad) }, { weight: 1, arbitrary: f.moreBad ?? wrongType }, { weight: 1, arbitrary: wrongType },
    { weight: 1, arbitrary: f.good.map((v) => [v]) });
/** Clean cases draw only good values; the others mostly good ones, so a bad value often stands alone. */
const pick = (clean: boolean, f: Field): fc.Arbitrary<unknown> =>
  clean ? f.good : fc.oneof({ weight: 8, arbitrary: f.good }, { weight: 1, arbitrary: badOf(f) });

const isoOf = (ms: number): string => new Date(ms).toISOString();
const time: Field = {
  good: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 0, 1) }).map(isoOf) },
    { weight: 1, arbitrary: fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }).map(isoOf) },
    {
      weight: 2, arbitrary: fc.constantFrom('2026-01-05T06:00:00Z', '2026-01-05T06:00:00.123456789Z', '2026-01-05T07:30:00+01:30',
        '2024-02-29T00:00:00.000Z', '2000-02-29T23:59:59-23:59', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '2026-01-05T06:00:00.5Z'),
    },
  ),
  bad: ['2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-05T24:00:00Z', '2026-01-05T06:00:00',
    '2026-01-05 06:00:00Z', '2026-01-05T06:00:00z', '2026-01-05T06:00:00+0100', ' 2026-01-05T06:00:00Z', '2026-01-05T06:00:00.Z',
    '+010000-01-01T00:00:00.000Z', '2026-01-05', '2026-01-05T06:00:00Z\n', '\uff12\uff10\uff12\uff16-01-05T06:00:00Z', 1767592800000,
    // RegExp.test reads an array as its string: only the type check refuses this
    ['2026-01-05T06:00:00Z']],
};
const finite: Field = {
  good: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1, 0.42, Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE, 1e21)),
  bad: [Infinity, -Infinity, 'NaN', 'Infinity', '0.5', null],
};
const count: Field = {
  good: fc.oneof(fc.nat(), fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER)),
  bad: [Number.MAX_SAFE_INTEGER + 1, 2 ** 53, -1, 0.5, Infinity, '3'],
};
const seq: Field = {
  good: fc.oneof(fc.integer({ min: 1, max: 1e9 }), fc.constant(Number.MAX_SAFE_INTEGER)),
  bad: [0, -0, -1, 1.5, 2 ** 53, Infinity, '1'],
};
const nonNegative: Field = {
  good: fc.oneof(fc.double({ min: 0, max: 1e4, noNaN: true }), fc.constantFrom(0, -0, Number.MAX_VALUE)),
  bad: [-1e-9, -1, Infinity, '0.1'],
};
const name: Field = {
  good: fc.oneof(
    fc.constantFrom('asset-edge-7', 'm', 'a "quoted" \\ name', 'Maschine \u00fc \u2028 \ud83d\ude00', 'x'.repeat(128), '\ud800 lone', '\u007f'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((n) => n.length <= 128 && !/[\u0000-\u001f]/.test(n)),
  ),
  bad: ['', 'x'.repeat(129), 'tab\there', 'nl\n', '\u0000', '\u001f', ['asset'], 7],
  moreBad: fc.string({ unit: 'binary', maxLength: 20 }),
};
const version: Field = { good: fc.constantFrom('1.0.0', 'v_2+build.7', 'x'.repeat(64), '-'), bad: ['', 'x'.repeat(65), 'bad version', 'v/1', '1.0.\u00fc', ['1.0.0'], 1] };
const role: Field = { good: fc.constantFrom('active', 'shadow'), bad: ['Active', 'candidate', ' active', ['active']] };
const horizon: Field = {
  good: fc.oneof(fc.constantFrom(24, 8760, Number.MIN_VALUE, 0.5), fc.double({ min: Number.MIN_VALUE, max: 8760, noNaN: true })),
  bad: [0, -0, 8760.000001, 8761, -1, Infinity, '24', null],
};
const alert: Field = { good: fc.boolean(), bad: [0, 1, 'true', 'false', null] };
const reason: Field = {
  good: fc.oneof(fc.constantFrom('out-of-range', 'missing', 'non-numeric', '0', '17', 'constructor', 'toString', 'x'.repeat(64)), fc.string({ minLength: 1, maxLength: 20 })),
  bad: ['', 'x'.repeat(65), '__proto__'],
};

/** An object whose keys follow `entries` in order, where an entry drawn as undefined is left out. */
function objectOf(entries: readonly (readonly [string, fc.Arbitrary<unknown>])[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(...entries.map(([, arb]) => arb)).map((values) => {
    const o: Record<string, unknown> = {};
    values.forEach((v, i) => {
      if (v !== undefined) o[entries[i]![0]] = v;
    });
    return o;
  });
}
const maybe = (clean: boolean, a: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.option(a, { nil: undefined, freq: clean ? 3 : 2 });

/** What a careless or hostile publisher does to a whole object: drop, add, reorder or retype keys. */
function disturb(clean: boolean, o: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  if (clean) return o;
  return fc.tuple(o, fc.nat(), fc.integer({ min: 0, max: 15 }), wrongType, fc.constantFrom('extra', '__proto__', 'Seq', 'constructor')).map(([obj, n, op, value, extra]) => {
    const keys = Object.keys(obj);
    const key = keys.length > 0 ? keys[n % keys.length]! : 'x';
    const copy: Record<string, unknown> = { ...obj };
    if (op === 0) delete copy[key];
    if (op === 1) Object.defineProperty(copy, extra, { value, enumerable: true, configurable: true, writable: true });
    if (op === 2) return Object.fromEntries(Object.entries(obj).reverse());
    if (op === 3) copy[key] = value;
    if (op === 4) return [obj];
    return copy;
  });
}

const modelRef = (c: boolean) => disturb(c, objectOf([['name', pick(c, name)], ['version', pick(c, version)]]));
const prediction = (c: boolean) => disturb(c, objectOf([['t', pick(c, time)], ['score', pick(c, finite)], ['alert', pick(c, alert)]]));
const DEVICE_BAD: readonly unknown[] = ['edge-8', 'e'.repeat(65), 'edge 7', '', 7];
const deviceId = (c: boolean) => c ? fc.constant(DEVICE) : fc.oneof({ weight: 8, arbitrary: fc.constant(DEVICE) }, { weight: 1, arbitrary: fc.constantFrom(...DEVICE_BAD) });

const predictionBatch = (c: boolean) => disturb(c, objectOf([
  ['deviceId', deviceId(c)], ['seq', pick(c, seq)], ['time', pick(c, time)], ['assetId', pick(c, name)], ['model', modelRef(c)],
  ['role', pick(c, role)], ['horizonHours', maybe(c, pick(c, horizon))], ['threshold', pick(c, finite)],
  ['predictions', fc.array(prediction(c), { minLength: c ? 1 : 0, maxLength: c ? 8 : 3 })],
]));

const reasonCounts = (c: boolean) => pick(c, {
  good: fc.dictionary(pick(c, reason).map(String), pick(c, count), { maxKeys: c ? 5 : 3 }),
  bad: [[], [1, 2], null, { '': 1 }, { a: -1 }, { a: 0.5 }, { ['x'.repeat(65)]: 1 }],
});
const latency = (c: boolean) => disturb(c, objectOf([['p50', pick(c, nonNegative)], ['p95', pick(c, nonNegative)], ['max', pick(c, nonNegative)]]));
/** windowStart <= windowEnd mostly; swapped, equal instants in other offsets, or anything when not clean. */
const windowTimes = (c: boolean) => fc.oneof(
  fc.tuple(fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 0, 1) }), fc.nat({ max: 86_400_000 })).map(([s, d]) => [isoOf(s), isoOf(s + d)]),
  fc.constantFrom(['2026-01-05T06:00:00Z', '2026-01-05T07:00:00+01:00'], ['2026-01-05T06:00:00.001Z', '2026-01-05T06:00:00Z'], ['2026-01-05T06:00:00Z', '2026-01-05T06:00:00.000000001Z']),
  fc.tuple(pick(c, time), pick(c, time)),
);
const metricWindow = (c: boolean) => windowTimes(c).chain(([windowStart, windowEnd]) => disturb(c, objectOf([
  ['deviceId', deviceId(c)], ['seq', pick(c, seq)], ['time', pick(c, time)], ['assetId', pick(c, name)],
  ['windowStart', fc.constant(windowStart)], ['windowEnd', fc.constant(windowEnd)], ['readings', pick(c, count)],
  ['rejectedReadings', reasonCounts(c)], ['inferences', pick(c, count)], ['inferenceErrors', pick(c, count)], ['alerts', pick(c, count)],
  ['latencyMs', maybe(c, latency(c))], ['model', maybe(c, modelRef(c))], ['role', maybe(c, pick(c, role))],
])));

/** Same values and the same key order at every level (toEqual alone ignores key order). */
function keyOrder(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(keyOrder);
  if (typeof v === 'object' && v !== null) return Object.entries(v).map(([k, x]) => [k, keyOrder(x)]);
  return v;
}

type Outcome = { ok: true; payload: unknown } | { ok: false; code: string; message: string };
function zodPath(kind: RecordKind, bytes: Uint8Array): Outcome {
  try {
    return { ok: true, payload: decodePayload(kind, bytes, DEVICE) };
  } catch (err) {
    if (!isPdmError(err)) throw err;
    return { ok: false, code: err.code, message: err.message };
  }
}

/** Checks (i) and (ii) on one payload; says whether the fast path took it and whether zod refused it. */
function check(kind: RecordKind, text: string): { fast: boolean; refused: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  const reference = zodPath(kind, bytes);
  const fast = fastRecord(kind, JSON.parse(text), DEVICE);
  if (fast !== undefined) {
    expect(reference.ok).toBe(true);
    const parsed = recordSchemas[kind].parse(JSON.parse(text));
    expect(fast).toEqual(parsed);
    expect(keyOrder(fast)).toEqual(keyOrder(parsed));
  }
  const d = decodeUpstream(upTopic(DEVICE, kind), parseTopic(upTopic(DEVICE, kind)), bytes, () => true, 'not a record topic');
  if (reference.ok) {
    expect(d.ok).toBe(true);
    const payload = d.ok ? d.payload : undefined;
    expect(payload).toEqual(reference.payload);
    expect(keyOrder(payload)).toEqual(keyOrder(reference.payload));
  } else {
    expect(d.ok ? 'accepted' : { code: d.error.code, message: d.error.message }).toEqual({ code: reference.code, message: reference.message });
  }
  return { fast: fast !== undefined, refused: !reference.ok };
}

/** Runs the property and shows it was not vacuous: many fast acceptances and many refusals. */
function holds(kind: RecordKind, records: (clean: boolean) => fc.Arbitrary<unknown>): void {
  let fast = 0;
  let refused = 0;
  fc.assert(fc.property(fc.boolean().chain(records), (record) => {
    const seen = check(kind, toJson(record));
    fast += seen.fast ? 1 : 0;
    refused += seen.refused ? 1 : 0;
  }), RUNS);
  expect(fast).toBeGreaterThan(RUNS.numRuns / 5);
  expect(refused).toBeGreaterThan(RUNS.numRuns / 5);
}

const keysOf = (schema: { shape: object }): string[] => Object.keys(schema.shape);

type Path = readonly (string | number)[];
/** A copy of `base` with the value at `path` replaced by what `edit` makes of it. */
function edited(base: object, path: Path, edit: (v: unknown) => unknown): unknown {
  if (path.length === 0) return edit(base);
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let parent = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  parent[path.at(-1)!] = edit(parent[path.at(-1)!]);
  return copy;
}

/** What is done to the object at a path: each key dropped, an unknown or "__proto__" key added, the keys reversed. */
function keyEdits(o: Record<string, unknown>): ((v: unknown) => unknown)[] {
  const withKey = (key: string) => (v: unknown) =>
    Object.defineProperty({ ...(v as object) }, key, { value: 1, enumerable: true, configurable: true, writable: true });
  return [
    ...Object.keys(o).map((key) => (v: unknown) => Object.fromEntries(Object.entries(v as object).filter(([k]) => k !== key))),
    withKey('extra'), withKey('__proto__'), (v: unknown) => Object.fromEntries(Object.entries(v as object).reverse()),
  ];
}

/** Every listed value at its path, and every key edit of every object, each alone in an otherwise valid record. */
function eachAlone(kind: RecordKind, base: Record<string, unknown>, values: readonly (readonly [Path, readonly unknown[]])[], objects: readonly Path[]): void {
  expect(check(kind, toJson(base))).toEqual({ fast: true, refused: false });
  let refused = 0;
  let cases = 0;
  for (const [path, bad] of values) {
    for (const v of [...bad, ...WRONG_TYPE]) {
      refused += check(kind, toJson(edited(base, path, () => v))).refused ? 1 : 0;
      cases++;
    }
  }
  for (const path of objects) {
    const o = path.reduce<unknown>((x, step) => (x as Record<string | number, unknown>)[step], base) as Record<string, unknown>;
    for (const edit of keyEdits(o)) {
      check(kind, toJson(edited(base, path, edit)));
      cases++;
    }
  }
  expect(refused).toBeGreaterThan(cases / 2);
}

const BATCH = {
  deviceId: DEVICE, seq: 9, time: '2026-01-05T06:00:00Z', assetId: 'm3', model: { name: 'tiny', version: '1.0.0' }, role: 'shadow',
  horizonHours: 24, threshold: 0.5, predictions: [{ t: '2026-01-05T05:00:00Z', score: 0.1, alert: false }, { t: '2026-01-05T06:00:00.000Z', score: -0, alert: true }],
};
const WINDOW = {
  deviceId: DEVICE, seq: 3, time: '2026-01-05T06:00:00Z', assetId: 'm3', windowStart: '2026-01-05T05:00:00Z', windowEnd: '2026-01-05T06:00:00Z',
  readings: 24, rejectedReadings: { 'out-of-range': 1, missing: 0 }, inferences: 23, inferenceErrors: 0, alerts: 0,
  latencyMs: { p50: 0.1, p95: 0.2, max: 0.4 }, model: { name: 'tiny', version: '1.0.0' }, role: 'active',
};
const NOT_OBJECT: readonly unknown[] = [null, [], 'x', 5, [{}]];

describe('fast decode of prediction batches', () => {
  it('accepts only what zod accepts, returns what zod returns, and leaves every refusal to zod', () => {
    holds('predictions', predictionBatch);
  });

  it('holds for each bad value and each key edit alone in a valid batch', () => {
    eachAlone('predictions', BATCH, [
      [['deviceId'], DEVICE_BAD], [['seq'], seq.bad], [['time'], time.bad], [['assetId'], name.bad], [['model'], NOT_OBJECT],
      [['model', 'name'], name.bad], [['model', 'version'], version.bad], [['role'], role.bad], [['horizonHours'], horizon.bad],
      [['threshold'], finite.bad], [['predictions'], [...NOT_OBJECT, [1], { 0: BATCH.predictions[0] }]], [['predictions', 1], NOT_OBJECT],
      [['predictions', 1, 't'], time.bad], [['predictions', 1, 'score'], finite.bad], [['predictions', 0, 'alert'], alert.bad],
    ], [[], ['model'], ['predictions', 1]]);
  });

  it('takes 1 and 1000 rows, and leaves 0 and 1001 rows to zod', () => {
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ t: isoOf(Date.UTC(2026, 0, 1) + i * 1000), score: i / 1000, alert: i % 2 === 0 }));
    const batch = (n: number) => toJson({
      deviceId: DEVICE, seq: 9, time: '2026-01-01T00:16:40Z', assetId: 'm3', model: { name: 'tiny', version: '1.0.0' }, role: 'shadow',
      threshold: 0.5, predictions: rows(n),
    });
    expect(check('predictions', batch(1))).toEqual({ fast: true, refused: false });
    expect(check('predictions', batch(1000))).toEqual({ fast: true, refused: false });
    expect(check('predictions', batch(0))).toEqual({ fast: false, refused: true });
    expect(check('predictions', batch(1001))).toEqual({ fast: false, refused: true });
    expect(check('predictions', batch(1000).replace('"alert":false}]', '"alert":"false"}]'))).toEqual({ fast: false, refused: true });
  });
});

describe('fast decode of metric windows', () => {
  it('accepts only what zod accepts, returns what zod returns, and leaves every refusal to zod', () => {
    holds('metrics', metricWindow);
  });

  it('holds for each bad value and each key edit alone in a valid window', () => {
    eachAlone('metrics', WINDOW, [
      [['deviceId'], DEVICE_BAD], [['seq'], seq.bad], [['time'], time.bad], [['assetId'], name.bad],
      [['windowStart'], [...time.bad, '2026-01-05T06:00:00.001Z', '2026-01-05T07:00:00.001+01:00']], [['windowEnd'], [...time.bad, '2026-01-05T04:59:59.999Z']],
      [['readings'], count.bad], [['rejectedReadings'], [...NOT_OBJECT, [1, 2], { '': 1 }, { ['x'.repeat(65)]: 1 }, Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, 1]))]],
      [['rejectedReadings', 'missing'], count.bad], [['inferences'], count.bad], [['inferenceErrors'], count.bad], [['alerts'], count.bad],
      [['latencyMs'], NOT_OBJECT], [['latencyMs', 'p50'], nonNegative.bad], [['latencyMs', 'p95'], nonNegative.bad], [['latencyMs', 'max'], nonNegative.bad],
      [['model'], NOT_OBJECT], [['model', 'name'], name.bad], [['model', 'version'], version.bad], [['role'], role.bad],
    ], [[], ['model'], ['latencyMs']]);
  });

  it('counts reasons as zod does: 64 at most, and a "__proto__" reason goes to zod', () => {
    const window = (rejectedReadings: Record<string, number>) => toJson({
      deviceId: DEVICE, seq: 3, time: '2026-01-05T06:00:00Z', assetId: 'm3', windowStart: '2026-01-05T05:00:00Z', windowEnd: '2026-01-05T06:00:00Z',
      readings: 24, rejectedReadings, inferences: 23, inferenceErrors: 0, alerts: 0,
    });
    const reasons = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`r${i}`, i]));
    expect(check('metrics', window(reasons(64)))).toEqual({ fast: true, refused: false });
    expect(check('metrics', window(reasons(65)))).toEqual({ fast: false, refused: true });
    // zod's record drops the key from its output: not the input, so not fast
    expect(check('metrics', window(reasons(3)).replace('"r0"', '"__proto__"'))).toEqual({ fast: false, refused: false });
  });
});

describe('fast decode of a payload naming an invalid device', () => {
  it('leaves it to zod even where the caller passes that device (the topic\'s is checked by parseTopic)', () => {
    const batch = { deviceId: 'edge 7', seq: 1, time: '2026-01-05T06:00:00Z', assetId: 'm3', model: { name: 'tiny', version: '1.0.0' }, role: 'active',
      threshold: 0.5, predictions: [{ t: '2026-01-05T06:00:00Z', score: 0.1, alert: false }] };
    expect(fastRecord('predictions', batch, 'edge 7')).toBeUndefined();
    const good = { ...batch, deviceId: DEVICE };
    expect(fastRecord('predictions', good, DEVICE)).toBe(good);
  });
});

describe('fast decode key lists', () => {
  it('are the schemas\' keys, in the schemas\' order', () => {
    expect(PREDICTION_BATCH_KEYS).toEqual(keysOf(recordSchemas.predictions));
    expect(PREDICTION_KEYS).toEqual(keysOf(recordSchemas.predictions.shape.predictions.element));
    expect(METRIC_WINDOW_KEYS).toEqual(keysOf(recordSchemas.metrics));
    expect(MODEL_REF_KEYS).toEqual(keysOf(recordSchemas.predictions.shape.model));
    expect(LATENCY_KEYS).toEqual(keysOf(recordSchemas.metrics.shape.latencyMs.unwrap()));
  });
});

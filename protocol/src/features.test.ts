import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aggregate, checkReading, checkReadingInto, FeatureWindows, numberOf } from './features.js';
import { LogSignals, logSignalOf } from './log-signals.js';
import { featureSpecSchema, type FeatureSpec } from './model-card.js';

const spec: FeatureSpec = featureSpecSchema.parse({
  signals: [
    { name: 'volt', min: 0, max: 500 },
    { name: 'kind', min: 0, max: 2, categories: ['L', 'M', 'H'] },
  ],
  features: [
    { name: 'volt_last', signal: 'volt', agg: 'last', window: 1 },
    { name: 'volt_mean_3', signal: 'volt', agg: 'mean', window: 3 },
    { name: 'volt_std_3', signal: 'volt', agg: 'std', window: 3 },
    { name: 'volt_slope_3', signal: 'volt', agg: 'slope', window: 3 },
    { name: 'kind', signal: 'kind', agg: 'last', window: 1 },
  ],
  input: { name: 'features' },
  output: { name: 'probabilities', column: 1 },
  task: 'failure-within-horizon',
  threshold: 0.5,
  alertWhen: 'above',
  horizonHours: 24,
  readingIntervalSeconds: 3600,
});

describe('aggregate', () => {
  it('computes each aggregation', () => {
    const v = [1, 2, 4];
    expect(aggregate(v, 'last')).toBe(4);
    expect(aggregate(v, 'min')).toBe(1);
    expect(aggregate(v, 'max')).toBe(4);
    expect(aggregate(v, 'mean')).toBeCloseTo(7 / 3, 12);
    expect(aggregate(v, 'std')).toBeCloseTo(Math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2), 12);
    expect(aggregate(v, 'slope')).toBeCloseTo(1.5, 12);
    expect(aggregate([5], 'std')).toBe(0);
    expect(aggregate([5], 'slope')).toBe(0);
  });
});

describe('numberOf: number strings from CSV', () => {
  // the check every value went through before numberOf (4164e86): the reference for its accept set
  const before = (raw: string): number | undefined =>
    /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(Infinity|NaN)\s*$/.test(raw) ? Number(raw) : undefined;
  const same = (raw: string): void => expect(Object.is(numberOf(raw), before(raw)), JSON.stringify(raw)).toBe(true);

  it('accepts and reads exactly the strings the regex accepted, to the same number', () => {
    // pieces of numbers and of what Number() reads beyond them (hex, binary, octal, blanks, separators)
    const piece = fc.constantFrom(
      '0', '1', '7', '9', '00', '.', '-', '+', 'e', 'E', 'e-', 'e+', 'x', 'X', 'b', 'B', 'o', 'O', 'f', 'a', '_', ',',
      'Infinity', 'infinity', 'NaN', 'nan', ' ', '\t', '\n', '\r', '\u00a0', '\ufeff', '\u2028', '\u3000', '\u0000', '0x', '0b', '0o',
    );
    fc.assert(fc.property(fc.array(piece, { maxLength: 8 }).map((p) => p.join('')), (raw) => {
      same(raw);
    }), { numRuns: 20_000 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (raw) => {
      same(raw);
    }), { numRuns: 5_000 });
    fc.assert(fc.property(fc.double(), (x) => { same(String(x)); same(x.toFixed(3)); same(` ${x.toExponential()}\t`); }), { numRuns: 5_000 });
  });

  it('refuses what Number() reads but a CSV number is not', () => {
    for (const raw of ['0x1f', '0X1F', '0b101', '0B1', '0o17', '0O7', '  0x10', ' ', '\t\n', '1_000', '+0x1']) {
      expect(numberOf(raw), JSON.stringify(raw)).toBeUndefined();
      same(raw);
    }
    for (const [raw, value] of [['0', 0], ['-0', -0], ['0.5', 0.5], ['.5', 0.5], ['5.', 5], ['1e3', 1000], [' 170.25 ', 170.25], ['-Infinity', -Infinity], ['0e5', 0], ['007', 7]] as const) {
      expect(numberOf(raw)).toBe(value);
    }
    expect(numberOf(' NaN ')).toBeNaN();
  });
});

describe('checkReading', () => {
  it('accepts numbers, numeric strings and categories', () => {
    expect(checkReading(spec, { volt: '170.5', kind: 'M' })).toEqual({ ok: true, values: { volt: 170.5, kind: 1 } });
  });

  it.each([
    [{ kind: 'L' }, 'missing', 'volt'],
    [{ volt: '', kind: 'L' }, 'missing', 'volt'],
    [{ volt: 'abc', kind: 'L' }, 'wrong-type', 'volt'],
    [{ volt: true, kind: 'L' }, 'wrong-type', 'volt'],
    [{ volt: 'NaN', kind: 'L' }, 'non-finite', 'volt'],
    [{ volt: Infinity, kind: 'L' }, 'non-finite', 'volt'],
    [{ volt: 501, kind: 'L' }, 'out-of-range', 'volt'],
    [{ volt: 100, kind: 'X' }, 'unknown-category', 'kind'],
    [{ volt: 100, kind: 1 }, 'wrong-type', 'kind'],
  ])('rejects %j as %s', (raw, reason, signal) => {
    expect(checkReading(spec, raw)).toEqual({ ok: false, reason, signal });
  });

  it('does not read inherited properties', () => {
    const raw = Object.create({ volt: 100 }) as Record<string, unknown>;
    raw['kind'] = 'L';
    expect(checkReading(spec, raw)).toMatchObject({ ok: false, reason: 'missing' });
  });
});

describe('checkReadingInto and pushValues', () => {
  it('take and reject the readings checkReading and push do, and make the same rows', () => {
    // a signal name twice (the schema allows it): push reads the value the last of them checked
    const twice: FeatureSpec = featureSpecSchema.parse({
      ...spec,
      signals: [...spec.signals, { name: 'volt', min: 100, max: 300 }, { name: 'rpm', min: 0, max: 3000 }],
      features: [...spec.features, { name: 'rpm_mean_2', signal: 'rpm', agg: 'mean', window: 2 }],
    });
    const raw = fc.oneof(fc.constantFrom('170.5', '250', '50', '-1', 'abc', '', 'NaN', 'L', 'M', 'H', 'X', 1, 2, 400), fc.double(), fc.constant(undefined));
    const reading = fc.record({ volt: raw, kind: raw, rpm: raw }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.constantFrom(spec, twice), fc.array(reading, { maxLength: 25 }), (s, readings) => {
        const before = new FeatureWindows(s);
        const after = new FeatureWindows(s);
        const values = new Float64Array(s.signals.length);
        for (const r of readings) {
          const check = checkReading(s, r);
          const rejected = checkReadingInto(s, r, values);
          expect(rejected).toEqual(check.ok ? undefined : { reason: check.reason, signal: check.signal });
          if (!check.ok) continue;
          before.push(check.values);
          after.pushValues(values);
          const [a, b] = [before.vector(), after.vector()];
          expect(b === undefined ? undefined : Array.from(b, (v) => Object.is(v, -0) ? '-0' : v)).toEqual(a === undefined ? undefined : Array.from(a, (v) => Object.is(v, -0) ? '-0' : v));
        }
      }),
    );
  });
});

describe('FeatureWindows', () => {
  it('waits for the longest window, then rolls', () => {
    const w = new FeatureWindows(spec);
    w.push({ volt: 1, kind: 0 });
    w.push({ volt: 2, kind: 0 });
    expect(w.ready).toBe(false);
    expect(w.vector()).toBeUndefined();
    w.push({ volt: 4, kind: 2 });
    expect(Array.from(w.vector()!)).toEqual(Array.from(new Float32Array([4, 7 / 3, aggregate([1, 2, 4], 'std'), 1.5, 2])));
    w.push({ volt: 10, kind: 1 });
    expect(w.vector()![0]).toBe(10);
    expect(w.vector()![1]).toBeCloseTo(16 / 3, 5);
    expect(w.vector()![4]).toBe(1);
  });
  it('aggregates each window in place to exactly what aggregate() makes of a copy of its last values', () => {
    // every aggregation over windows shorter than, equal to and wrapping around the ring
    const aggs = ['last', 'min', 'max', 'mean', 'std', 'slope'] as const;
    const windows = [1, 2, 5, 7];
    const wide: FeatureSpec = featureSpecSchema.parse({
      ...spec,
      signals: [{ name: 'x', min: -1e6, max: 1e6 }],
      features: aggs.flatMap((agg) => windows.map((window) => ({ name: `x_${agg}_${window}`, signal: 'x', agg, window }))),
    });
    const value = fc.double({ min: -1e6, max: 1e6, noNaN: true });
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 40 }), fc.nat(30), (values, resetAt) => {
        const w = new FeatureWindows(wide);
        let seen: number[] = [];
        const out = new Float32Array(wide.features.length + 3);
        values.forEach((x, i) => {
          if (i === resetAt) {
            w.reset();
            seen = [];
          }
          w.push({ x });
          seen.push(x);
          const row = w.vector();
          expect(row === undefined).toBe(seen.length < 7);
          expect(w.vectorInto(out, 3)).toBe(row !== undefined);
          if (row === undefined) return;
          const expected = Float32Array.from(wide.features, (f) => aggregate(seen.slice(-f.window), f.agg));
          // bit for bit: the same operations on the same values in the same order
          row.forEach((v, k) => expect(Object.is(v, expected[k])).toBe(true));
          expect(Array.from(out.subarray(3))).toEqual(Array.from(row));
        });
      }),
    );
  });

  it('makes every feature of any spec bit for bit as aggregate() does, however features share signals and windows', () => {
    const feature = fc.record({
      signal: fc.constantFrom('x', 'y'),
      agg: fc.constantFrom('last', 'min', 'max', 'mean', 'std', 'slope'),
      window: fc.integer({ min: 1, max: 6 }),
    });
    // -0 and +0 both: min and max must pick the same zero as Math.min / Math.max over the window
    const value = fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constantFrom(0, -0, 1e-300, -1e-300));
    fc.assert(
      fc.property(fc.array(feature, { minLength: 1, maxLength: 16 }), fc.array(fc.tuple(value, value), { minLength: 1, maxLength: 20 }), (features, values) => {
        const any: FeatureSpec = featureSpecSchema.parse({
          ...spec,
          signals: [{ name: 'x', min: -1e6, max: 1e6 }, { name: 'y', min: -1e6, max: 1e6 }],
          features: features.map((f, i) => ({ ...f, name: `f${i}` })),
        });
        const w = new FeatureWindows(any);
        const seen: { x: number[]; y: number[] } = { x: [], y: [] };
        for (const [x, y] of values) {
          w.push({ x, y });
          seen.x.push(x);
          seen.y.push(y);
          const row = w.vector();
          if (row === undefined) continue;
          const expected = Float32Array.from(any.features, (f) => aggregate(seen[f.signal as 'x' | 'y'].slice(-f.window), f.agg));
          row.forEach((v, k) => expect(Object.is(v, expected[k])).toBe(true));
        }
      }),
    );
  });
});

describe('featureSpecSchema', () => {
  it('names unknown signals and duplicate features', () => {
    const bad = featureSpecSchema.safeParse({
      ...spec,
      features: [...spec.features, { name: 'volt_last', signal: 'rpm', agg: 'mean', window: 2 }],
    });
    expect(bad.success).toBe(false);
    const messages = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(messages).toContain('features.5.signal: unknown signal "rpm"');
    expect(messages).toContain('features.5.name: duplicate feature "volt_last"');
  });
});

describe('LogSignals', () => {
  const hour = 3_600_000;
  const t0 = Date.parse('2015-01-01T06:00:00Z');

  it('parses the naming convention and leaves sensor names alone', () => {
    expect(logSignalOf('errors_error1')).toEqual({ kind: 'error-count', code: 'error1' });
    expect(logSignalOf('hours_since_comp4')).toEqual({ kind: 'hours-since-maintenance', component: 'comp4' });
    expect(logSignalOf('volt')).toBeUndefined();
    expect(new LogSignals(['volt', 'rotate']).needed).toBe(false);
  });

  it('counts errors since the previous reading and ages components from their last maintenance', () => {
    const log = new LogSignals(['volt', 'errors_error1', 'errors_error2', 'hours_since_comp1', 'hours_since_comp2']);
    expect(log.needed).toBe(true);
    log.record({ time: t0 - 30 * 24 * hour, kind: 'maintenance', code: 'comp1' });
    log.record({ time: t0 - hour, kind: 'error', code: 'error1' }); // before the first reading: not counted
    log.record({ time: t0, kind: 'error', code: 'error1' });
    expect(log.valuesAt(t0)).toEqual({ errors_error1: 1, errors_error2: 0, hours_since_comp1: 720, hours_since_comp2: undefined });
    log.record({ time: t0 + hour, kind: 'error', code: 'error2' });
    log.record({ time: t0 + hour, kind: 'error', code: 'error2' });
    log.record({ time: t0 + hour, kind: 'maintenance', code: 'comp2' });
    expect(log.valuesAt(t0 + hour)).toEqual({ errors_error1: 0, errors_error2: 2, hours_since_comp1: 721, hours_since_comp2: 0 });
    expect(log.valuesAt(t0 + 3 * hour)).toEqual({ errors_error1: 0, errors_error2: 0, hours_since_comp1: 723, hours_since_comp2: 2 });
  });

  it('a component never maintained leaves its signal missing, so checkReading rejects the reading', () => {
    const logSpec = featureSpecSchema.parse({
      ...spec,
      signals: [{ name: 'volt', min: 0, max: 500 }, { name: 'hours_since_comp1', min: 0, max: 1e5 }],
      features: [{ name: 'age', signal: 'hours_since_comp1', agg: 'last', window: 1 }],
    });
    const values = new LogSignals(['hours_since_comp1']).valuesAt(t0);
    expect(checkReading(logSpec, { volt: 200, ...values })).toEqual({ ok: false, reason: 'missing', signal: 'hours_since_comp1' });
  });
});

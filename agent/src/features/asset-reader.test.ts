import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readingRejectReasons } from '@pdm/protocol';
import { tinySpec } from '../testing/tiny-model.js';
import { AssetReader } from './asset-reader.js';

const spec = tinySpec({
  signals: [
    { name: 'a', min: -100, max: 100 },
    { name: 'b', min: -100, max: 100 },
    { name: 'kind', min: 0, max: 2, categories: ['L', 'M', 'H'] },
  ],
  features: [
    { name: 'a_mean_3', signal: 'a', agg: 'mean', window: 3 },
    { name: 'b_last_1', signal: 'b', agg: 'last', window: 1 },
    { name: 'kind', signal: 'kind', agg: 'last', window: 1 },
  ],
});
const good = (a: unknown, t = 0) => ({ time: t, values: { a, b: '2', kind: 'M' } });

describe('AssetReader', () => {
  it('yields rows in feature-spec order once the windows are full', () => {
    const reader = new AssetReader(spec);
    expect(reader.accept(good('1', 1))).toEqual({ ok: true, time: 1, row: undefined });
    expect(reader.accept(good(2, 2))).toEqual({ ok: true, time: 2, row: undefined });
    const third = reader.accept(good('6', 3));
    expect(third.ok && Array.from(third.row!)).toEqual([3, 2, 1]);
  });

  it('rejects each kind of bad reading with its reason and keeps it out of the windows', () => {
    const reader = new AssetReader(spec);
    const bad = [
      [{ time: 0, values: { a: 'NaN', b: '1', kind: 'M' } }, 'non-finite'],
      [{ time: 0, values: { a: 'Infinity', b: '1', kind: 'M' } }, 'non-finite'],
      [{ time: 0, values: { b: '1', kind: 'M' } }, 'missing'],
      [{ time: 0, values: { a: '', b: '1', kind: 'M' } }, 'missing'],
      [{ time: 0, values: { a: 'abc', b: '1', kind: 'M' } }, 'wrong-type'],
      [{ time: 0, values: { a: true, b: '1', kind: 'M' } }, 'wrong-type'],
      [{ time: 0, values: { a: '1e9', b: '1', kind: 'M' } }, 'out-of-range'],
      [{ time: 0, values: { a: '1', b: '1', kind: 'X' } }, 'unknown-category'],
      [{ time: 0, values: { a: '1', b: '1', kind: 3 } }, 'wrong-type'],
      [{ time: Number.NaN, timeProblem: 'wrong-type' as const, values: { a: '1', b: '1', kind: 'M' } }, 'wrong-type'],
    ] as const;
    for (const [reading, reason] of bad) expect(reader.accept(reading)).toMatchObject({ ok: false, reason });
    // none of them entered a window: three good readings are still needed
    expect(reader.accept(good(1)).ok && reader.accept(good(1))).toMatchObject({ row: undefined });
    expect(reader.accept(good(1))).toMatchObject({ ok: true, row: expect.any(Float32Array) });
  });

  it('never throws and never yields a non-finite row, whatever arrives', () => {
    const anyValue = fc.oneof(fc.string(), fc.double(), fc.boolean(), fc.constant(undefined), fc.constant(null), fc.object());
    fc.assert(
      fc.property(fc.array(fc.record({ a: anyValue, b: anyValue, kind: anyValue }), { maxLength: 30 }), (values) => {
        const reader = new AssetReader(spec);
        for (const v of values) {
          const result = reader.accept({ time: 0, values: v });
          if (result.ok && result.row !== undefined) expect(result.row.every(Number.isFinite)).toBe(true);
          if (!result.ok) expect(readingRejectReasons).toContain(result.reason);
        }
      }),
    );
  });
});

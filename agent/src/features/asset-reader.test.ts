import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readingRejectReasons } from '@pdm/protocol';
import { loadModel } from '../inference/model.js';
import type { RawReading } from '../sources/source.js';
import { azureTelemetry } from '../testing/azure-telemetry.js';
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

/**
 * The feature rows of every reference data set, bit for bit (issue 9: the feature stage is optimised for
 * speed, never at the cost of a different row). Hashes taken at commit 4164e86.
 */
describe('AssetReader: rows of the reference data sets', () => {
  const dataFile = (path: string): string => readFileSync(new URL(`../../../models/data/${path}`, import.meta.url), 'utf8');
  const artifact = (name: string): string => new URL(`../../../models/artifacts/${name}/1.0.0/`, import.meta.url).pathname;
  const HOUR = 3_600_000;

  function azure(signals: readonly string[]): RawReading[][] {
    return [...azureTelemetry(signals).values()];
  }

  function cmapss(signals: readonly string[]): RawReading[][] {
    const names = ['unit', 'cycle', 'setting1', 'setting2', 'setting3', ...Array.from({ length: 21 }, (_, i) => `s${i + 1}`)];
    const units = new Map<string, RawReading[]>();
    for (const line of dataFile('cmapss/train_FD001.txt').trim().split('\n')) {
      const cells = line.trim().split(/\s+/);
      const list = units.get(cells[0]!) ?? [];
      list.push({ time: Date.UTC(2015, 0, 1) + Number(cells[1]) * HOUR, values: Object.fromEntries(signals.map((s) => [s, cells[names.indexOf(s)]])) });
      units.set(cells[0]!, list);
    }
    return [...units.values()];
  }

  function ai4i(): RawReading[][] {
    const columns: Record<string, string> = {
      type: 'Type', air_temperature: 'Air temperature [K]', process_temperature: 'Process temperature [K]',
      rotational_speed: 'Rotational speed [rpm]', torque: 'Torque [Nm]', tool_wear: 'Tool wear [min]',
    };
    const [header, ...lines] = dataFile('ai4i2020/ai4i2020.csv').trim().split('\n');
    const cols = header!.split(',');
    return [lines.map((line, i) => {
      const cells = line.split(',');
      return { time: Date.UTC(2015, 0, 1) + i * 60_000, values: Object.fromEntries(Object.entries(columns).map(([s, c]) => [s, cells[cols.indexOf(c)]])) };
    })];
  }

  const cases = [
    ['azure-pdm-failure-24h', azure, '32055 rows, 0 rejected: 849b665facc8afef1624adf83d4a9557d528528d78b3393e9315985c638dd2c8'],
    ['cmapss-fd001-rul', cmapss, '17731 rows, 0 rejected: 698bf1307369a21ee80065f02737f064906569b416f86b1f55017e946aa4b6b4'],
    ['ai4i-machine-failure', ai4i, '10000 rows, 0 rejected: 9a54f39f18a98c64a52cd775a47802caf2eed8d0e79cca91284481d33ae8e8d2'],
  ] as const;
  for (const [name, assetsOf, expected] of cases) {
    it(`are the same bits as before: ${name}`, async () => {
      const model = await loadModel(artifact(name));
      const spec = model.card.featureSpec;
      await model.session.release();
      const hash = createHash('sha256');
      let rows = 0;
      let rejected = 0;
      for (const readings of assetsOf(spec.signals.map((s) => s.name))) {
        const reader = new AssetReader(spec);
        for (const r of readings) {
          const result = reader.accept(r);
          if (!result.ok) {
            rejected++;
            hash.update(`R${result.reason}`);
          } else if (result.row !== undefined) {
            rows++;
            hash.update(new Uint8Array(result.row.buffer, result.row.byteOffset, result.row.byteLength));
          }
        }
      }
      expect(`${rows} rows, ${rejected} rejected: ${hash.digest('hex')}`).toBe(expected);
    });
  }
});

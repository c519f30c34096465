/**
 * The points column's writer (prediction-points.ts) writes what JSON.stringify writes for the
 * [t, score, alert] triples, for any strings and numbers, and its reader gives the predictions back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PdmError } from '@pdm/protocol';
import { packPoints, unpackPoints, type Prediction } from './prediction-points.js';

const prediction: fc.Arbitrary<Prediction> = fc.record({
  // any string, not only the times the schema lets in: escaping must match JSON.stringify's
  t: fc.oneof(fc.string({ unit: 'binary' }), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
  // every double, with -0, the smallest and largest, and non-finite ones (which JSON writes as null)
  score: fc.oneof(fc.double(), fc.constantFrom(-0, 0, Number.MIN_VALUE, Number.MAX_VALUE, 1e21, 1e-7, 0.1 + 0.2)),
  alert: fc.boolean(),
});

describe('packPoints', () => {
  it('writes the text JSON.stringify writes for the triples', () => {
    fc.assert(fc.property(fc.array(prediction, { maxLength: 70 }), (predictions) => {
      expect(packPoints(predictions)).toBe(JSON.stringify(predictions.map((p) => [p.t, p.score, p.alert ? 1 : 0])));
    }), { numRuns: 2000 });
  });

  it('is read back as the predictions it was written from', () => {
    const finite = prediction.filter((p) => Number.isFinite(p.score));
    fc.assert(fc.property(fc.array(finite, { minLength: 1, maxLength: 70 }), (predictions) => {
      const back = unpackPoints(packPoints(predictions), { deviceId: 'd', seq: 1 });
      // JSON has no -0: it comes back as 0
      expect(back).toEqual(predictions.map((p) => ({ ...p, score: Object.is(p.score, -0) ? 0 : p.score })));
    }), { numRuns: 500 });
  });

  it('refuses a stored text that is not what it writes, naming the batch', () => {
    expect(() => unpackPoints('[["t", 1, 2]]', { deviceId: 'd', seq: 7 })).toThrow(PdmError);
    expect(() => unpackPoints('not json', { deviceId: 'd', seq: 7 })).toThrow(/not JSON/);
  });
});

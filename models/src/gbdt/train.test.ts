import { describe, expect, it } from 'vitest';
import { binOf, featureEdges } from './binning.js';
import { predict, rawScore } from './model.js';
import { seededRandom } from './random.js';
import { trainGbdt } from './train.js';

/** Two informative features and one noise feature; class 1 when x0 + x1 > 1 (plus label noise). */
function synthetic(rows: number, seed: number): { x: Float32Array; y: Uint8Array } {
  const random = seededRandom(seed);
  const x = new Float32Array(rows * 3);
  const y = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    const a = random();
    const b = random();
    x.set([a, b, random()], r * 3);
    y[r] = (a + b > 1) !== random() < 0.05 ? 1 : 0;
  }
  return { x, y };
}

describe('binning', () => {
  it('puts a value in the first bin whose edge is >= it, so bin <= k means x <= edges[k]', () => {
    const values = Float32Array.from([5, 1, 3, 3, 2, 4]);
    const edges = featureEdges(values, 256);
    expect([...edges]).toEqual([1.5, 2.5, 3.5, 4.5]);
    for (const v of values) {
      const bin = binOf(edges, v);
      edges.forEach((edge, k) => expect(bin <= k).toBe(v <= edge));
    }
  });

  it('caps the bin count at maxBins with quantile edges', () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => i);
    expect(featureEdges(values, 10).length).toBeLessThanOrEqual(9);
  });
});

describe('trainGbdt', () => {
  it('learns a separable rule far better than the base rate', () => {
    const train = synthetic(2000, 1);
    const test = synthetic(1000, 2);
    const model = trainGbdt(train.x, train.y, { objective: 'binary-logistic', trees: 40, maxDepth: 3, learningRate: 0.3 });
    const p = predict(model, test.x);
    let correct = 0;
    for (let r = 0; r < test.y.length; r++) if ((p[r]! >= 0.5 ? 1 : 0) === test.y[r]) correct += 1;
    // label noise is 5%, so ~0.95 is the ceiling; a tree that learnt nothing scores ~0.5
    expect(correct / test.y.length).toBeGreaterThan(0.88);
  });

  it('is deterministic for a seed and differs for another seed when subsampling', () => {
    const { x, y } = synthetic(800, 3);
    const params = { objective: 'binary-logistic', trees: 10, maxDepth: 3, subsample: 0.7, colsample: 0.7 } as const;
    const a = trainGbdt(x, y, { ...params, seed: 7 });
    const b = trainGbdt(x, y, { ...params, seed: 7 });
    const c = trainGbdt(x, y, { ...params, seed: 8 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(c));
  });

  it('fits a regression target with squared error', () => {
    const random = seededRandom(4);
    const rows = 1000;
    const x = new Float32Array(rows);
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      x[r] = random() * 10;
      y[r] = x[r]! < 5 ? 100 : 20;
    }
    const model = trainGbdt(x, y, { objective: 'squared-error', trees: 30, maxDepth: 2, learningRate: 0.5, minSamplesLeaf: 5 });
    expect(rawScore(model, [2])).toBeCloseTo(100, 0);
    expect(rawScore(model, [8])).toBeCloseTo(20, 0);
  });

  it('respects the depth limit', () => {
    const { x, y } = synthetic(1000, 5);
    const model = trainGbdt(x, y, { objective: 'binary-logistic', trees: 5, maxDepth: 2, minSamplesLeaf: 1 });
    for (const tree of model.trees) expect(tree.feature.length).toBeLessThanOrEqual(7);
  });
});

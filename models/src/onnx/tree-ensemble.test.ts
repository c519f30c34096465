import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { predict, type GbdtModel } from '../gbdt/model.js';
import { seededRandom } from '../gbdt/random.js';
import { trainGbdt } from '../gbdt/train.js';
import { openSession, scoreRows } from './runtime.js';
import { exportTreeClassifier, exportTreeRegressor } from './tree-ensemble.js';

function data(rows: number, width: number, seed: number): { x: Float32Array; y: Uint8Array; t: Float64Array } {
  const random = seededRandom(seed);
  const x = new Float32Array(rows * width);
  for (let i = 0; i < x.length; i++) x[i] = random() * 100 - 50;
  const y = new Uint8Array(rows);
  const t = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const s = x[r * width]! + 0.5 * x[r * width + 1]! - 0.2 * x[r * width + 2]!;
    y[r] = s + (random() - 0.5) * 30 > 5 ? 1 : 0;
    t[r] = s * 2 + 10;
  }
  return { x, y, t };
}

describe('TreeEnsemble export', () => {
  it('classifier: onnxruntime gives the in-process probabilities and labels', async () => {
    const { x, y } = data(1500, 4, 1);
    const model = trainGbdt(x, y, { objective: 'binary-logistic', trees: 25, maxDepth: 4, learningRate: 0.2, subsample: 0.8 });
    const bytes = exportTreeClassifier(model, { inputName: 'features', graphName: 'test' });
    const session = await openSession(bytes);
    expect(session.inputNames).toEqual(['features']);
    expect(session.outputNames).toEqual(['label', 'probabilities']);
    const test = data(500, 4, 2).x;
    const onnx = await scoreRows(session, test, 4, { inputName: 'features', outputName: 'probabilities', column: 1 });
    const local = predict(model, test);
    let maxDiff = 0;
    for (let r = 0; r < local.length; r++) maxDiff = Math.max(maxDiff, Math.abs(onnx[r]! - local[r]!));
    expect(maxDiff).toBeLessThan(1e-5);
    // the scores must actually vary, or agreement would prove nothing
    expect(Math.max(...local) - Math.min(...local)).toBeGreaterThan(0.5);

    const out = await session.run({ features: new ort.Tensor('float32', test, [500, 4]) });
    const labels = out.label!.data as BigInt64Array;
    const probs = out.probabilities!.data as Float32Array;
    for (let r = 0; r < 500; r++) {
      expect(probs[2 * r]! + probs[2 * r + 1]!).toBeCloseTo(1, 5);
      if (Math.abs(local[r]! - 0.5) > 1e-4) expect(labels[r]).toBe(local[r]! > 0.5 ? 1n : 0n);
    }
  });

  it('classifier whose leaf weights are all >= 0 still gives [1-p, p] (onnxruntime reads those as probabilities)', async () => {
    const model: GbdtModel = {
      objective: 'binary-logistic',
      width: 1,
      baseScore: -1,
      trees: [{ feature: [0, -1, -1], threshold: [3.5, 0, 0], left: [1, -1, -1], right: [2, -1, -1], value: [0, 0.25, 2] }],
    };
    const x = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    const session = await openSession(exportTreeClassifier(model, { inputName: 'features', graphName: 'tiny' }));
    const onnx = await scoreRows(session, x, 1, { inputName: 'features', outputName: 'probabilities', column: 1 });
    const local = predict(model, x);
    expect(local[0]).toBeCloseTo(1 / (1 + Math.exp(0.75)), 6);
    for (let r = 0; r < 8; r++) expect(onnx[r]).toBeCloseTo(local[r]!, 6);
  });

  it('regressor: onnxruntime gives the in-process predictions', async () => {
    const { x, t } = data(1500, 3, 3);
    const model = trainGbdt(x, t, { objective: 'squared-error', trees: 30, maxDepth: 4, learningRate: 0.3 });
    const session = await openSession(exportTreeRegressor(model, { inputName: 'features', graphName: 'reg' }));
    expect(session.outputNames).toEqual(['prediction']);
    const test = data(300, 3, 4).x;
    const onnx = await scoreRows(session, test, 3, { inputName: 'features', outputName: 'prediction', column: 0 });
    const local = predict(model, test);
    for (let r = 0; r < local.length; r++) expect(Math.abs(onnx[r]! - local[r]!)).toBeLessThan(1e-3 * Math.max(1, Math.abs(local[r]!)));
  });
});

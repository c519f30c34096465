import { describe, expect, it } from 'vitest';
import { predictLogistic, trainLogistic } from '../linear/logistic.js';
import { predict } from '../gbdt/model.js';
import { seededRandom } from '../gbdt/random.js';
import { trainGbdt } from '../gbdt/train.js';
import { checkModelAgainstSpec } from './check.js';
import * as ort from 'onnxruntime-node';
import { applyDerived, derivedNodes, type DerivedFeature } from './derived.js';
import { exportLogistic } from './linear.js';
import { withNanProbabilities } from './nan-scores.js';
import { ELEM_FLOAT, encodeModel, onnx, tensorInfo } from './proto.js';
import { openSession, scoreRows } from './runtime.js';
import { exportTreeClassifier } from './tree-ensemble.js';

function rows(n: number, width: number, seed: number): { x: Float32Array; y: Uint8Array } {
  const random = seededRandom(seed);
  const x = Float32Array.from({ length: n * width }, () => random() * 10 + 295);
  const y = Uint8Array.from({ length: n }, (_, r) => (x[r * width]! * x[r * width + 1]! > 300 * 300 ? 1 : 0));
  return { x, y };
}

describe('graphs beyond a bare tree ensemble', () => {
  it('derived columns (Gather/Sub/Mul/Concat) are bit-identical in process and in onnxruntime', async () => {
    const derived: DerivedFeature[] = [{ name: 'd', op: 'sub', a: 1, b: 0 }, { name: 'p', op: 'mul', a: 0, b: 1 }];
    const { x, y } = rows(600, 2, 1);
    const wide = applyDerived(x, 2, derived);
    expect(wide.length).toBe(600 * 4);
    expect(wide[3]).toBe(Math.fround(x[0]! * x[1]!));
    const model = trainGbdt(wide, y, { objective: 'binary-logistic', trees: 20, maxDepth: 3 });
    const bytes = exportTreeClassifier(model, { inputName: 'features', graphName: 'derived', derived });
    const session = await openSession(bytes);
    expect(session.inputMetadata[0]).toMatchObject({ name: 'features', shape: ['N', 2] });
    const onnxScores = await scoreRows(session, x, 2, { inputName: 'features', outputName: 'probabilities', column: 1 });
    const local = predict(model, wide);
    for (let r = 0; r < 600; r++) expect(Math.abs(onnxScores[r]! - local[r]!)).toBeLessThan(1e-5);
  });

  it('derived columns may read earlier derived columns and constants, bit-identical in onnxruntime', async () => {
    // power in W from rpm and torque: omega = rpm * 2pi/60, power = torque * omega; then a shifted margin
    const derived: DerivedFeature[] = [
      { name: 'omega', op: 'mul', a: 0, b: { constant: (2 * Math.PI) / 60 } },
      { name: 'power', op: 'mul', a: 1, b: 2 },
      { name: 'margin', op: 'sub', a: 3, b: { constant: 31_000 } },
    ];
    const { x, y } = rows(400, 2, 4);
    const wide = applyDerived(x, 2, derived);
    const omega = Math.fround(x[0]! * Math.fround((2 * Math.PI) / 60));
    expect(wide.subarray(0, 5)).toEqual(Float32Array.from([x[0]!, x[1]!, omega, Math.fround(x[1]! * omega), Math.fround(Math.fround(x[1]! * omega) - 31_000)]));
    const model = trainGbdt(wide, y, { objective: 'binary-logistic', trees: 20, maxDepth: 3 });
    const bytes = exportTreeClassifier(model, { inputName: 'features', graphName: 'chained', derived });
    const session = await openSession(bytes);
    const onnxScores = await scoreRows(session, x, 2, { inputName: 'features', outputName: 'probabilities', column: 1 });
    const local = predict(model, wide);
    for (let r = 0; r < 400; r++) expect(Math.abs(onnxScores[r]! - local[r]!)).toBeLessThan(1e-5);
  });

  it('double-precision, rounding, sign and division steps, hidden or not, are bit-identical in onnxruntime', async () => {
    const derived: DerivedFeature[] = [
      { name: 'half', op: 'mul', a: 0, b: { constant: 0.5 }, precision: 'double', hidden: true },
      { name: 'rounded', op: 'round', a: 2, precision: 'double' },
      { name: 'rounded_float', op: 'round', a: 0 },
      { name: 'ratio', op: 'div', a: 1, b: 0, hidden: true },
      { name: 'side', op: 'sign', a: 5, precision: 'double' },
    ];
    // Halves round to even in ONNX (-2.5 -> -2, 1.5 -> 2, 2.5 -> 2), not up as Math.round does.
    const x = Float32Array.from([-5, 1, 3, -2, 5, 0, 2.5, -3, -2.5, 7]);
    const wide = applyDerived(x, 2, derived);
    expect(wide).toEqual(Float32Array.from([
      -5, 1, -2, -5, -1,
      3, -2, 2, 3, -1,
      5, 0, 2, 5, 0,
      2.5, -3, 1, 2, -1,
      -2.5, 7, -1, -2, -1,
    ]));
    const graph = derivedNodes('features', 2, derived);
    const bytes = encodeModel({
      graphName: 'steps', opsets: { '': 17 }, initializers: graph.initializers, nodes: graph.nodes,
      inputs: [tensorInfo('features', ELEM_FLOAT, ['N', 2])], outputs: [tensorInfo(graph.output, ELEM_FLOAT, ['N', 5])],
    });
    const session = await openSession(bytes);
    const out = await session.run({ features: new ort.Tensor('float32', x, [5, 2]) });
    await session.release();
    expect(out[graph.output]!.data).toEqual(wide);
  });

  it('refuses a derived column that reads a column defined after it', () => {
    const derived: DerivedFeature[] = [{ name: 'early', op: 'mul', a: 0, b: 3 }, { name: 'late', op: 'sub', a: 0, b: 1 }];
    expect(() => applyDerived(new Float32Array(4), 2, derived)).toThrow(/"early" reads column 3/);
  });

  it('logistic regression in plain ai.onnx ops (IR 7, opset 13) matches the in-process model', async () => {
    const { x, y } = rows(500, 3, 2);
    const model = trainLogistic(x, y, { iterations: 200 });
    const bytes = exportLogistic(model, { inputName: 'features', graphName: 'lin' });
    const decoded = onnx.ModelProto.decode(bytes);
    expect(Number(decoded.irVersion)).toBe(7);
    expect(decoded.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 13]]);
    const session = await openSession(bytes);
    expect(session.outputNames).toEqual(['score']);
    const onnxScores = await scoreRows(session, x, 3, { inputName: 'features', outputName: 'score', column: 0 });
    const local = predictLogistic(model, x);
    let correct = 0;
    for (let r = 0; r < 500; r++) {
      expect(Math.abs(onnxScores[r]! - local[r]!)).toBeLessThan(1e-5);
      if ((local[r]! >= 0.5 ? 1 : 0) === y[r]) correct += 1;
    }
    expect(correct / 500).toBeGreaterThan(0.8);
  });

  it('the NaN transform keeps inputs and outputs but every probability becomes NaN', async () => {
    const { x, y } = rows(200, 2, 3);
    const model = trainGbdt(x, y, { objective: 'binary-logistic', trees: 5, maxDepth: 2 });
    const bytes = withNanProbabilities(exportTreeClassifier(model, { inputName: 'features', graphName: 'nan' }));
    const session = await openSession(bytes);
    expect([...session.outputNames].sort()).toEqual(['label', 'probabilities']);
    const scores = await scoreRows(session, x, 2, { inputName: 'features', outputName: 'probabilities', column: 1 });
    expect([...scores].every(Number.isNaN)).toBe(true);
    const spec = {
      signals: [{ name: 's', min: 0, max: 1000 }],
      features: [{ name: 'a', signal: 's', agg: 'last' as const, window: 1 }, { name: 'b', signal: 's', agg: 'mean' as const, window: 2 }],
      input: { name: 'features' }, output: { name: 'probabilities', column: 1 },
      task: 'failure-now' as const, threshold: 0.5, alertWhen: 'above' as const, readingIntervalSeconds: 60,
    };
    // a NaN model is a valid file for the spec: the device's trial health check is what refuses it
    await expect(checkModelAgainstSpec(bytes, spec)).resolves.toBeUndefined();
  });
});

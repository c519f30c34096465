/**
 * L2-regularised logistic regression on standardised features, fitted by full-batch gradient descent
 * with a fixed step: no randomness at all, so it is deterministic by construction. It is the
 * "different way" model that proves the feature-spec contract is not tied to tree ensembles.
 */
import { z } from 'zod';
import { PdmError } from '@pdm/protocol';

export const logisticParamsSchema = z.strictObject({
  iterations: z.number().int().min(1).max(100_000).default(500),
  learningRate: z.number().positive().default(0.5),
  l2: z.number().min(0).default(1e-3),
  /** Weight of class-1 rows relative to class-0 rows. */
  positiveWeight: z.number().positive().default(1),
});
export type LogisticParams = z.output<typeof logisticParamsSchema>;

export interface LogisticModel {
  width: number;
  /** Per-feature mean and standard deviation (float32, as stored in the ONNX graph). */
  mean: Float32Array;
  scale: Float32Array;
  weights: Float32Array;
  bias: number;
}

function standardiser(x: Float32Array, width: number): { mean: Float32Array; scale: Float32Array } {
  const rows = x.length / width;
  const mean = new Float64Array(width);
  const sq = new Float64Array(width);
  for (let r = 0; r < rows; r++) for (let f = 0; f < width; f++) mean[f]! += x[r * width + f]! / rows;
  for (let r = 0; r < rows; r++) for (let f = 0; f < width; f++) sq[f]! += (x[r * width + f]! - mean[f]!) ** 2 / rows;
  // A constant feature keeps scale 1 so the division stays finite.
  return { mean: Float32Array.from(mean), scale: Float32Array.from(sq, (v) => (v > 0 ? Math.sqrt(v) : 1)) };
}

export function trainLogistic(x: Float32Array, y: ArrayLike<number>, input: z.input<typeof logisticParamsSchema>): LogisticModel {
  const params = logisticParamsSchema.parse(input);
  const rows = y.length;
  if (rows === 0 || x.length % rows !== 0) throw new PdmError('INTERNAL', `matrix of ${x.length} values does not hold ${rows} rows`);
  const width = x.length / rows;
  const { mean, scale } = standardiser(x, width);
  const z = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) z[i] = (x[i]! - mean[i % width]!) / scale[i % width]!;
  const w = new Float64Array(width);
  let b = 0;
  let totalWeight = 0;
  for (let r = 0; r < rows; r++) totalWeight += y[r] === 1 ? params.positiveWeight : 1;
  const grad = new Float64Array(width);
  for (let it = 0; it < params.iterations; it++) {
    grad.fill(0);
    let gradB = 0;
    for (let r = 0; r < rows; r++) {
      let s = b;
      for (let f = 0; f < width; f++) s += w[f]! * z[r * width + f]!;
      const weight = y[r] === 1 ? params.positiveWeight : 1;
      const err = weight * (1 / (1 + Math.exp(-s)) - y[r]!);
      for (let f = 0; f < width; f++) grad[f]! += err * z[r * width + f]!;
      gradB += err;
    }
    for (let f = 0; f < width; f++) w[f]! -= params.learningRate * (grad[f]! / totalWeight + params.l2 * w[f]!);
    b -= (params.learningRate * gradB) / totalWeight;
  }
  return { width, mean, scale, weights: Float32Array.from(w), bias: Math.fround(b) };
}

/** Probabilities of class 1 for every row, from the float32 parameters the ONNX graph holds. */
export function predictLogistic(model: LogisticModel, x: Float32Array): Float64Array {
  const rows = x.length / model.width;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = model.bias;
    for (let f = 0; f < model.width; f++) s += ((x[r * model.width + f]! - model.mean[f]!) / model.scale[f]!) * model.weights[f]!;
    out[r] = 1 / (1 + Math.exp(-s));
  }
  return out;
}

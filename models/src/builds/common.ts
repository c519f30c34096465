/** What every model build shares: its context (data, artifacts, progress, clock) and the checks run before writing. */
import { PdmError, type FeatureSpecEntry, type ModelCard } from '@pdm/protocol';
import type { WrittenArtifact } from '../card/card.js';
import { predict, splitCounts, type GbdtModel } from '../gbdt/model.js';
import { gbdtParamsSchema, type GbdtParamsInput } from '../gbdt/train.js';
import { openSession, scoreRows } from '../onnx/runtime.js';

export interface BuildContext {
  /** models/data */
  dataDir: string;
  /** models/artifacts */
  artifactsDir: string;
  progress: (step: string, detail?: Record<string, unknown>) => void;
  now: () => Date;
}

export interface BuildResult {
  card: ModelCard;
  artifact: WrittenArtifact;
  seconds: number;
}

/** Largest |a - b| over two score arrays; builds refuse to write a model whose ONNX scores drift. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Scores of rows from an ONNX file through onnxruntime, read like the agent reads them. */
export async function scoreWithOnnx(
  bytes: Uint8Array,
  x: Float32Array,
  width: number,
  output: { name: string; column: number } = { name: 'probabilities', column: 1 },
  inputName = 'features',
): Promise<Float32Array> {
  const session = await openSession(bytes);
  try {
    return await scoreRows(session, x, width, { inputName, outputName: output.name, column: output.column });
  } finally {
    await session.release();
  }
}

/**
 * Refuses to write a model whose ONNX scores differ from the in-process ones by more than `tolerance`
 * (onnxruntime sums tree outputs in float32, so 1e-5 for probabilities; regressors pass a scale-aware one).
 */
export function assertSameScores(local: ArrayLike<number>, onnxScores: ArrayLike<number>, tolerance = 1e-5): void {
  const diff = maxAbsDiff(local, onnxScores);
  if (!(diff <= tolerance)) {
    throw new PdmError('INTERNAL', `ONNX scores differ from the trained model by ${diff} (> ${tolerance}); refusing to write the artifact`);
  }
}

export function assertSameModelScores(model: GbdtModel, x: Float32Array, onnxScores: ArrayLike<number>, tolerance = 1e-5): void {
  assertSameScores(predict(model, x), onnxScores, tolerance);
}

export function trainingSection(params: GbdtParamsInput, seconds: number): ModelCard['training'] {
  const { seed, ...rest } = gbdtParamsSchema.parse(params);
  return {
    algorithm: 'gradient-boosted trees (models/src/gbdt: Newton boosting, logistic or squared loss, quantile-histogram splits), exported as ai.onnx.ml TreeEnsemble opset 3',
    params: rest,
    seed,
    seconds,
  };
}

/** The most used features by split count, a cheap importance note for the card. */
export function topFeatures(model: GbdtModel, names: readonly string[]): string {
  const counts = splitCounts(model);
  const top = names
    .map((name, i) => ({ name, n: counts[i] ?? 0 }))
    .sort((a, b) => b.n - a.n)
    .slice(0, 6)
    .map((f) => `${f.name} (${f.n})`);
  return `Most used features (split count): ${top.join(', ')}.`;
}

export function featureNames(features: readonly FeatureSpecEntry[]): string[] {
  return features.map((f) => f.name);
}

export function elapsedSeconds(started: number): number {
  return Math.round((Date.now() - started) / 100) / 10;
}

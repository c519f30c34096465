/**
 * Builds ai4i-machine-failure: machine failure from the current AI4I 2020 process snapshot, GBDT over
 * the six process signals plus physical combinations derived inside the ONNX graph. 1.0.0 derives them
 * in float32 (and stays byte for byte what it was: bench/rollout.ts ships it); 1.1.0 derives them the
 * way the data's generator computes them (pipelines/ai4i-physics.ts).
 */
import { join } from 'node:path';
import { buildCard, writeArtifact } from '../card/card.js';
import { referenceBins } from '../card/reference.js';
import { predict } from '../gbdt/model.js';
import type { GbdtParamsInput } from '../gbdt/train.js';
import { derivedColumns, type DerivedFeature } from '../onnx/derived.js';
import { exportTreeClassifier } from '../onnx/tree-ensemble.js';
import { AI4I_DERIVED, AI4I_SPLIT_SEED, evaluateAi4i, prepareAi4i, trainAi4i } from '../pipelines/ai4i.js';
import { AI4I_PHYSICS_DERIVED } from '../pipelines/ai4i-physics.js';
import { AI4I_V1_0_LIMITS, AI4I_V1_1_LIMITS } from './ai4i-notes.js';
import {
  assertSameModelScores, elapsedSeconds, featureNames, scoreWithOnnx, topFeatures, trainingSection,
  type BuildContext, type BuildResult,
} from './common.js';

export const AI4I_NAME = 'ai4i-machine-failure';
export const AI4I_PARAMS: GbdtParamsInput = {
  objective: 'binary-logistic', trees: 400, maxDepth: 6, learningRate: 0.03, minSamplesLeaf: 2, lambda: 0.5,
  subsample: 0.8, colsample: 0.8, maxBins: 4096, minChildWeight: 1, seed: 42,
};

/**
 * 1.1.0: less regularised than 1.0.0 (leaves of one row, min child weight 0.1, no L2 penalty), so the
 * trees can place a split right at the edge of a failure mode; chosen by the mean out-of-fold F1 over
 * three fold seeds of the training rows (ai4i-notes.ts lists every setting tried).
 */
export const AI4I_V1_1_PARAMS: GbdtParamsInput = { ...AI4I_PARAMS, minSamplesLeaf: 1, minChildWeight: 0.1, lambda: 0 };

/** What differs between the versions: derived columns, tree parameters and what the card says. */
export interface Ai4iVersion {
  version: string;
  derived: readonly DerivedFeature[];
  params: GbdtParamsInput;
  description: string;
  limits: readonly string[];
}

const DESCRIPTION =
  'Probability that the current process run ends in a machine failure (any of the five AI4I failure modes), from the product quality type and the process snapshot: air and process temperature, rotational speed, torque and tool wear.';

export const AI4I_VERSIONS: readonly Ai4iVersion[] = [
  {
    version: '1.0.0',
    derived: AI4I_DERIVED,
    params: AI4I_PARAMS,
    description: `${DESCRIPTION} The graph also derives temperature difference, torque x speed and tool wear x torque.`,
    limits: AI4I_V1_0_LIMITS,
  },
  {
    version: '1.1.0',
    derived: AI4I_PHYSICS_DERIVED,
    params: AI4I_V1_1_PARAMS,
    description: `${DESCRIPTION} The graph also derives, as the data's generator computes them, the temperature difference (float64, order kept in float32), power in W and tool wear x torque over the product type's overstrain limit.`,
    limits: AI4I_V1_1_LIMITS,
  },
];

export async function buildAi4iFamily(ctx: BuildContext): Promise<BuildResult[]> {
  const results: BuildResult[] = [];
  for (const version of AI4I_VERSIONS) results.push(await buildAi4i(ctx, version));
  return results;
}

export async function buildAi4i(ctx: BuildContext, def: Ai4iVersion): Promise<BuildResult> {
  const started = Date.now();
  ctx.progress('load', { dataset: 'ai4i2020' });
  const split = prepareAi4i(join(ctx.dataDir, 'ai4i2020'), def.derived);
  ctx.progress('train', { model: AI4I_NAME, version: def.version, rows: split.train.rows });
  const { model, spec, validationF1 } = trainAi4i(split, def.params);
  const inputWidth = spec.features.length;
  const bytes = exportTreeClassifier(model, { inputName: spec.input.name, graphName: AI4I_NAME, derived: def.derived, metadata: { name: AI4I_NAME, version: def.version } });
  // The ONNX model takes only the spec's columns; it derives the rest itself.
  const testInput = firstColumns(split.test.x, split.test.width, inputWidth);
  const onnxScores = await scoreWithOnnx(bytes, testInput, inputWidth);
  assertSameModelScores(model, split.test.x, onnxScores);
  const seconds = elapsedSeconds(started);
  const card = buildCard({
    name: AI4I_NAME,
    version: def.version,
    description: def.description,
    variant: 'reference',
    data: {
      name: 'AI4I 2020 Predictive Maintenance Dataset (S. Matzka, HTW Berlin; UCI #601)',
      source: 'models/data/ai4i2020 (see PROVENANCE.md): UCI Machine Learning Repository, doi:10.24432/C5HS5C; cite Matzka, AI4I 2020, doi:10.1109/AI4I49448.2020.00023; synthetic',
      licence: 'CC BY 4.0',
      rows: split.total,
    },
    featureSpec: spec,
    split: `Held out: a seeded (${AI4I_SPLIT_SEED}) 20% of the 10,000 rows, stratified by failure and failure-mode combination so each mode keeps its share (${split.test.rows} rows, ${split.testY.filter((y) => y === 1).length} failures). Train: the other ${split.train.rows} rows. Rows are independent runs, so a random split does not leak time.`,
    metrics: evaluateAi4i(split, spec, onnxScores),
    thresholdChoice: `Best F1 (${validationF1}) on out-of-fold probabilities of the training rows (5 stratified folds, same strata), floored to 4 decimals: ${spec.threshold}. The held-out rows played no part.`,
    limits: [...def.limits, topFeatures(model, [...featureNames(spec.features), ...derivedColumns(def.derived).map((d) => d.name)])],
    training: trainingSection(def.params, seconds),
    reference: { bins: referenceBins(spec, firstColumns(split.train.x, split.train.width, inputWidth), predict(model, split.train.x)) },
  }, bytes, ctx.now());
  const artifact = writeArtifact(ctx.artifactsDir, card, bytes);
  ctx.progress('written', { model: AI4I_NAME, version: def.version, bytes: artifact.modelBytes, seconds });
  return { card, artifact, seconds };
}

/** The first `keep` columns of a row-major [rows, width] matrix. */
export function firstColumns(x: Float32Array, width: number, keep: number): Float32Array {
  const rows = x.length / width;
  const out = new Float32Array(rows * keep);
  for (let r = 0; r < rows; r++) out.set(x.subarray(r * width, r * width + keep), r * keep);
  return out;
}

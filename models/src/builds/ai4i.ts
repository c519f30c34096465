/**
 * Builds ai4i-machine-failure 1.0.0: machine failure from the current AI4I 2020 process snapshot,
 * GBDT over the six process signals plus three physical combinations derived inside the ONNX graph.
 */
import { join } from 'node:path';
import { buildCard, writeArtifact } from '../card/card.js';
import { referenceBins } from '../card/reference.js';
import { predict } from '../gbdt/model.js';
import type { GbdtParamsInput } from '../gbdt/train.js';
import { exportTreeClassifier } from '../onnx/tree-ensemble.js';
import { AI4I_DERIVED, AI4I_SPLIT_SEED, evaluateAi4i, prepareAi4i, trainAi4i } from '../pipelines/ai4i.js';
import {
  assertSameModelScores, elapsedSeconds, featureNames, scoreWithOnnx, topFeatures, trainingSection,
  type BuildContext, type BuildResult,
} from './common.js';

export const AI4I_NAME = 'ai4i-machine-failure';
export const AI4I_PARAMS: GbdtParamsInput = {
  objective: 'binary-logistic', trees: 400, maxDepth: 6, learningRate: 0.03, minSamplesLeaf: 2, lambda: 0.5,
  subsample: 0.8, colsample: 0.8, maxBins: 4096, minChildWeight: 1, seed: 42,
};

export async function buildAi4i(ctx: BuildContext): Promise<BuildResult> {
  const started = Date.now();
  ctx.progress('load', { dataset: 'ai4i2020' });
  const split = prepareAi4i(join(ctx.dataDir, 'ai4i2020'));
  ctx.progress('train', { model: AI4I_NAME, version: '1.0.0', rows: split.train.rows });
  const { model, spec, validationF1 } = trainAi4i(split, AI4I_PARAMS);
  const inputWidth = spec.features.length;
  const bytes = exportTreeClassifier(model, { inputName: spec.input.name, graphName: AI4I_NAME, derived: AI4I_DERIVED, metadata: { name: AI4I_NAME, version: '1.0.0' } });
  // The ONNX model takes only the spec's columns; it derives the rest itself.
  const testInput = firstColumns(split.test.x, split.test.width, inputWidth);
  const onnxScores = await scoreWithOnnx(bytes, testInput, inputWidth);
  assertSameModelScores(model, split.test.x, onnxScores);
  const seconds = elapsedSeconds(started);
  const card = buildCard({
    name: AI4I_NAME,
    version: '1.0.0',
    description:
      'Probability that the current process run ends in a machine failure (any of the five AI4I failure modes), from the product quality type and the process snapshot: air and process temperature, rotational speed, torque and tool wear. The graph also derives temperature difference, torque x speed and tool wear x torque.',
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
    limits: [
      'Synthetic data. Accuracy is never quoted: predicting "no failure" everywhere is already 96.6% accurate.',
      'Tool-wear failures (TWF) happen at a random wear between 200 and 240 min and random failures (RNF) at 0.1% per run; neither is predictable from one snapshot, and they are most of the misses (see recall.TWF).',
      'Failures exactly at a mode\'s boundary (e.g. a temperature difference of 8.6 K to one decimal) can flip because inputs are float32.',
      'Stratifying only by failure/no failure (seed 2020) put 14 of the 46 TWF rows in the test fold and gave a test F1 of 0.83 (with depth 6, 200 trees, learning rate 0.05); the mode-stratified split was adopted for that reason. Cross-validated F1 on the training rows is the steadier figure (see thresholdChoice).',
      'A later search found nothing better, judged on out-of-fold F1 of the training rows only: 17 tree settings (depth 4-8, 300-800 trees, learning rate 0.03-0.1, min samples per leaf 1-2, lambda 0-0.5, min child weight 0.01-1, positive weight 1-5), an overstrain margin per product type, power in W, and a 5-seed bag all gave 0.883-0.889 against 0.886 here. The ceiling is the data: a model that learnt the three deterministic modes (HDF, PWF, OSF) exactly, with no false alarm, would score F1 0.912 on this held-out fold (62 of 74 failures; the other 12 are tool-wear, random or unlabelled failures), so 0.90 needs almost every boundary case right, and boundary cases (speed 1,378 rpm, power 3,470 W) are where training rows are sparse.',
      topFeatures(model, [...featureNames(spec.features), ...AI4I_DERIVED.map((d) => d.name)]),
    ],
    training: trainingSection(AI4I_PARAMS, seconds),
    reference: { bins: referenceBins(spec, firstColumns(split.train.x, split.train.width, inputWidth), predict(model, split.train.x)) },
  }, bytes, ctx.now());
  const artifact = writeArtifact(ctx.artifactsDir, card, bytes);
  ctx.progress('written', { model: AI4I_NAME, version: '1.0.0', bytes: artifact.modelBytes, seconds });
  return { card, artifact, seconds };
}

/** The first `keep` columns of a row-major [rows, width] matrix. */
export function firstColumns(x: Float32Array, width: number, keep: number): Float32Array {
  const rows = x.length / width;
  const out = new Float32Array(rows * keep);
  for (let r = 0; r < rows; r++) out.set(x.subarray(r * width, r * width + keep), r * keep);
  return out;
}

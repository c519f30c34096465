/**
 * Builds azure-pdm-failure-24h 1.0.0, the reference model the agent, the demo and the end-to-end tests
 * roll out: GBDT on 28 rolling telemetry features, exported as a TreeEnsembleClassifier.
 */
import { join } from 'node:path';
import { PdmError, type FeatureSpecEntry } from '@pdm/protocol';
import { buildCard, writeArtifact } from '../card/card.js';
import { referenceBins } from '../card/reference.js';
import { predict, splitCounts, type GbdtModel } from '../gbdt/model.js';
import { gbdtParamsSchema, type GbdtParamsInput } from '../gbdt/train.js';
import { openSession, scoreRows } from '../onnx/runtime.js';
import { exportTreeClassifier } from '../onnx/tree-ensemble.js';
import { AZURE_FULL_AGGS, azureFeatureEntries } from '../pipelines/azure-features.js';
import { evaluateAzure, prepareAzure, splitAzure, splitDescription, trainAzure, type AzureSplit } from '../pipelines/azure-pdm.js';
import { maxAbsDiff, type BuildContext, type BuildResult } from './context.js';

export const AZURE_NAME = 'azure-pdm-failure-24h';
export const AZURE_PARAMS: GbdtParamsInput = {
  objective: 'binary-logistic', trees: 150, maxDepth: 3, learningRate: 0.05, minSamplesLeaf: 40,
  subsample: 0.8, colsample: 0.8, maxBins: 128, lambda: 1, minChildWeight: 1, seed: 42,
};
const FOLDS = 5;

export const AZURE_DATA = {
  name: 'Microsoft Azure Predictive Maintenance sample (PdM_*), telemetry of machines 1-15, Jan-Mar 2015',
  source: 'models/data/azure-pdm (see PROVENANCE.md): Microsoft Azure AI Gallery "Predictive Maintenance Modelling Guide" data via public GitHub copies; simulated',
  licence: 'unstated by the publisher; test and demo use only',
};

export const AZURE_LIMITS = [
  'Telemetry only: the agent reads volt, rotate, pressure and vibration; error logs, maintenance history and machine age are not signals it can compute, so the model cannot use them. In this simulated data telemetry anomalies of ~2 days also occur without any failure, which caps precision.',
  'Simulated data (Microsoft sample), 15 machines and 3 months; the held-out month has only a handful of failure events, so the event-level intervals are wide.',
  'The 24 h windows still hold pre-failure readings for up to a day after a repair; alerts in that period count as false positives here.',
  'Needs 24 accepted hourly readings per machine before the first prediction; a rejected reading is skipped, not imputed.',
];

export interface AzureBuildOptions {
  version: string;
  variant: 'reference' | 'degraded';
  description: string;
  features: FeatureSpecEntry[];
  params: GbdtParamsInput;
  /** Overrides the out-of-fold threshold (the noisy variant). */
  threshold?: number;
  extraLimits?: string[];
}

export async function buildAzureVariant(ctx: BuildContext, split: AzureSplit, options: AzureBuildOptions): Promise<BuildResult> {
  const started = Date.now();
  ctx.progress('train', { model: AZURE_NAME, version: options.version, rows: split.train.rows, features: options.features.length });
  const trained = trainAzure(split, options.features, options.params, FOLDS);
  const spec = options.threshold === undefined ? trained.spec : { ...trained.spec, threshold: options.threshold };
  const bytes = exportTreeClassifier(trained.model, { inputName: spec.input.name, graphName: AZURE_NAME, metadata: { name: AZURE_NAME, version: options.version } });
  const onnxScores = await scoreWithOnnx(bytes, split.test.x, spec.features.length);
  assertSameScores(trained.model, split.test.x, onnxScores);
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const trainScores = predict(trained.model, split.train.x);
  const card = buildCard({
    name: AZURE_NAME,
    version: options.version,
    description: options.description,
    variant: options.variant,
    data: { ...AZURE_DATA, rows: split.train.rows + split.test.rows },
    featureSpec: spec,
    split: splitDescription(FOLDS),
    metrics: evaluateAzure(split, spec, onnxScores),
    thresholdChoice: options.threshold === undefined
      ? `Best hour-level F1 (${trained.validation.f1}) on out-of-fold probabilities of the training period (${FOLDS} folds of whole machines, Jan-Feb 2015), floored to 4 decimals: ${spec.threshold}. March 2015 played no part.`
      : `Set by hand to ${spec.threshold} to make the alert rate explode (deliberately bad; the out-of-fold choice was ${trained.validation.threshold}).`,
    limits: [...AZURE_LIMITS, ...(options.extraLimits ?? []), topFeatures(trained.model, options.features)],
    training: trainingSection(options.params, seconds),
    reference: { bins: referenceBins(spec, split.train.x, trainScores) },
  }, bytes, ctx.now());
  const artifact = writeArtifact(ctx.artifactsDir, card, bytes);
  ctx.progress('written', { model: AZURE_NAME, version: options.version, bytes: artifact.modelBytes, seconds });
  return { card, artifact, seconds };
}

export function trainingSection(params: GbdtParamsInput, seconds: number): BuildResultTraining {
  const full = gbdtParamsSchema.parse(params);
  const { seed, ...rest } = full;
  return {
    algorithm: 'gradient-boosted trees (models/src/gbdt: Newton boosting, logistic or squared loss, quantile-histogram splits), exported as ai.onnx.ml TreeEnsemble opset 3',
    params: rest,
    seed,
    seconds,
  };
}
type BuildResultTraining = BuildResult['card']['training'];

function topFeatures(model: GbdtModel, features: FeatureSpecEntry[]): string {
  const counts = splitCounts(model);
  const top = features
    .map((f, i) => ({ name: f.name, n: counts[i]! }))
    .sort((a, b) => b.n - a.n)
    .slice(0, 6)
    .map((f) => `${f.name} (${f.n})`);
  return `Most used features (split count): ${top.join(', ')}.`;
}

export async function scoreWithOnnx(bytes: Uint8Array, x: Float32Array, width: number, output = { name: 'probabilities', column: 1 }): Promise<Float32Array> {
  const session = await openSession(bytes);
  try {
    return await scoreRows(session, x, width, { inputName: 'features', outputName: output.name, column: output.column });
  } finally {
    await session.release();
  }
}

function assertSameScores(model: GbdtModel, x: Float32Array, onnxScores: Float32Array): void {
  const diff = maxAbsDiff(predict(model, x), onnxScores);
  if (diff > 1e-5) {
    throw new PdmError('INTERNAL', `ONNX scores differ from the trained model by ${diff} (> 1e-5); refusing to write the artifact`);
  }
}

export async function buildAzureReference(ctx: BuildContext): Promise<BuildResult> {
  ctx.progress('load', { dataset: 'azure-pdm' });
  const features = azureFeatureEntries(AZURE_FULL_AGGS);
  const split = splitAzure(prepareAzure(join(ctx.dataDir, 'azure-pdm'), features));
  return buildAzureVariant(ctx, split, {
    version: '1.0.0',
    variant: 'reference',
    description:
      'Probability that a machine has a failure (any component) within the next 24 hours, from rolling means, deviations, extremes and slopes of its hourly telemetry (voltage, rotation, pressure, vibration) over the last 3 and 24 readings.',
    features,
    params: AZURE_PARAMS,
  });
}

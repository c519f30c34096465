/**
 * Builds the azure-pdm-failure-24h family: 1.0.0, the reference model the agent, the demo and the
 * end-to-end tests roll out (GBDT on 28 rolling telemetry features, a TreeEnsembleClassifier), and
 * three deliberately bad versions with the same signals, features, input and output, so they deploy to
 * the same devices: 1.1.0-degraded (three stumps: worse recall), 1.2.0-nan (NaN scores), 1.3.0-noisy
 * (threshold far too low: the alert rate explodes).
 */
import { join } from 'node:path';
import { PdmError, type FeatureSpec } from '@pdm/protocol';
import { buildCard, writeArtifact } from '../card/card.js';
import { referenceBins } from '../card/reference.js';
import type { Metric } from '../eval/metrics.js';
import { predict } from '../gbdt/model.js';
import type { GbdtParamsInput } from '../gbdt/train.js';
import { withNanProbabilities } from '../onnx/nan-scores.js';
import { exportTreeClassifier } from '../onnx/tree-ensemble.js';
import { AZURE_FULL_AGGS, azureFeatureEntries } from '../pipelines/azure-features.js';
import { evaluateAzure, prepareAzure, splitAzure, splitDescription, trainAzure, type AzureSplit, type AzureTrained } from '../pipelines/azure-pdm.js';
import {
  assertSameModelScores, elapsedSeconds, featureNames, scoreWithOnnx, topFeatures, trainingSection,
  type BuildContext, type BuildResult,
} from './common.js';

export const AZURE_NAME = 'azure-pdm-failure-24h';
export const AZURE_PARAMS: GbdtParamsInput = {
  objective: 'binary-logistic', trees: 150, maxDepth: 3, learningRate: 0.05, minSamplesLeaf: 40,
  subsample: 0.8, colsample: 0.8, maxBins: 128, lambda: 1, minChildWeight: 1, seed: 42,
};
/** Three depth-1 trees, each offered a fifth of the features: a model that has barely learnt. */
export const AZURE_DEGRADED_PARAMS: GbdtParamsInput = { ...AZURE_PARAMS, trees: 3, maxDepth: 1, colsample: 0.2 };
export const NOISY_THRESHOLD = 0.001;
export const FOLDS = 5;

export const AZURE_DATA = {
  name: 'Microsoft Azure Predictive Maintenance sample (PdM_*), telemetry of machines 1-15, Jan-Mar 2015',
  source: 'models/data/azure-pdm (see PROVENANCE.md): Microsoft Azure AI Gallery "Predictive Maintenance Modelling Guide" data via public GitHub copies; simulated',
  licence: 'unstated by the publisher; test and demo use only',
};

export const AZURE_LIMITS = [
  'Telemetry only: the agent reads volt, rotate, pressure and vibration; error logs, maintenance history and machine age are not signals it can compute, so the model cannot use them. In this simulated data every failure is preceded by a ~48 h shift of one signal, but such shifts also occur without a failure: measured on machines 1-15, Jan-Mar 2015, 92 episodes of >= 24 h in which a signal\'s 24-reading mean stayed more than 4 standard errors from the fleet mean, and only 27 of them ended in a failure. That caps event-level precision near 0.3 for any telemetry-only model, far below the 0.5 goal.',
  'Simulated data (Microsoft sample), 15 machines and 3 months; the held-out month has only 7 failure events, so the event-level intervals are wide.',
  'The 24 h windows still hold pre-failure readings for up to a day after a repair; alerts in that period count as false positives here.',
  'Needs 24 accepted hourly readings per machine before the first prediction; a rejected reading is skipped, not imputed.',
];

export const AZURE_REFERENCE_DESCRIPTION =
  'Probability that a machine has a failure (any component) within the next 24 hours, from rolling means, deviations, extremes and slopes of its hourly telemetry (voltage, rotation, pressure, vibration) over the last 3 and 24 readings.';

interface VariantOptions {
  version: string;
  variant: 'reference' | 'degraded';
  description: string;
  params: GbdtParamsInput;
  /** Training time of the model this variant reuses or trained. */
  trainSeconds: number;
  threshold?: number;
  nanScores?: boolean;
  extraLimits?: string[];
  /** Replace the telemetry-only data name, limits and threshold text (version 2.0.0 reads the logs too). */
  dataName?: string;
  limits?: string[];
  thresholdChoice?: string;
  split?: string;
}

export async function writeAzureVariant(ctx: BuildContext, split: AzureSplit, trained: AzureTrained, options: VariantOptions): Promise<BuildResult> {
  const started = Date.now();
  const spec: FeatureSpec = options.threshold === undefined ? trained.spec : { ...trained.spec, threshold: options.threshold };
  const trees = exportTreeClassifier(trained.model, { inputName: spec.input.name, graphName: AZURE_NAME, metadata: { name: AZURE_NAME, version: options.version } });
  const bytes = options.nanScores === true ? withNanProbabilities(trees) : trees;
  const onnxScores = await scoreWithOnnx(bytes, split.test.x, spec.features.length);
  if (options.nanScores === true) {
    if (!onnxScores.every(Number.isNaN)) throw new PdmError('INTERNAL', 'the NaN variant produced a finite score');
  } else {
    assertSameModelScores(trained.model, split.test.x, onnxScores);
  }
  const metrics: Record<string, Metric> = evaluateAzure(split, spec, onnxScores);
  if (options.nanScores === true) metrics['scores.nan'] = { value: 1, note: 'share of held-out rows whose score is NaN; NaN never passes a threshold, so nothing alerts' };
  const seconds = Math.round((options.trainSeconds + elapsedSeconds(started)) * 10) / 10;
  const card = buildCard({
    name: AZURE_NAME,
    version: options.version,
    description: options.description,
    variant: options.variant,
    data: { ...AZURE_DATA, ...(options.dataName === undefined ? {} : { name: options.dataName }), rows: split.train.rows + split.test.rows },
    featureSpec: spec,
    split: options.split ?? splitDescription(FOLDS),
    metrics,
    thresholdChoice: options.thresholdChoice ?? (options.threshold === undefined
      ? `Best hour-level F1 (${trained.validation.f1}) on out-of-fold probabilities of the training period (${FOLDS} folds of whole machines, Jan-Feb 2015), floored to 4 decimals: ${spec.threshold}. March 2015 played no part.`
      : `Set by hand to ${spec.threshold}, deliberately far below the out-of-fold choice (${trained.validation.threshold}), so that the alert rate explodes.`),
    limits: [...(options.extraLimits ?? []), ...(options.limits ?? AZURE_LIMITS), topFeatures(trained.model, featureNames(spec.features))],
    training: trainingSection(options.params, seconds),
    reference: { bins: referenceBins(spec, split.train.x, predict(trained.model, split.train.x)) },
  }, bytes, ctx.now());
  const artifact = writeArtifact(ctx.artifactsDir, card, bytes);
  ctx.progress('written', { model: AZURE_NAME, version: options.version, bytes: artifact.modelBytes, seconds });
  return { card, artifact, seconds };
}

function timedTrain(ctx: BuildContext, split: AzureSplit, version: string, params: GbdtParamsInput): { trained: AzureTrained; seconds: number } {
  const started = Date.now();
  const features = azureFeatureEntries(AZURE_FULL_AGGS);
  ctx.progress('train', { model: AZURE_NAME, version, rows: split.train.rows, features: features.length });
  return { trained: trainAzure(split, features, params, { folds: FOLDS }), seconds: elapsedSeconds(started) };
}

export function loadAzureSplit(ctx: BuildContext): AzureSplit {
  ctx.progress('load', { dataset: 'azure-pdm' });
  return splitAzure(prepareAzure(join(ctx.dataDir, 'azure-pdm'), azureFeatureEntries(AZURE_FULL_AGGS)));
}

export async function buildAzureFamily(ctx: BuildContext, split = loadAzureSplit(ctx)): Promise<BuildResult[]> {
  const reference = timedTrain(ctx, split, '1.0.0', AZURE_PARAMS);
  const results = [await writeAzureVariant(ctx, split, reference.trained, {
    version: '1.0.0', variant: 'reference', description: AZURE_REFERENCE_DESCRIPTION, params: AZURE_PARAMS, trainSeconds: reference.seconds,
  })];
  const degraded = timedTrain(ctx, split, '1.1.0-degraded', AZURE_DEGRADED_PARAMS);
  const bad = 'DELIBERATELY BAD, for rollout demos and tests: never deploy it to act on. ';
  results.push(await writeAzureVariant(ctx, split, degraded.trained, {
    version: '1.1.0-degraded', variant: 'degraded', params: AZURE_DEGRADED_PARAMS, trainSeconds: degraded.seconds,
    description: `${bad}Same signals and features as 1.0.0, but only three depth-1 trees, each offered a fifth of the features: a model that has barely learnt, with measurably worse recall.`,
    extraLimits: ['Degraded on purpose: 3 stumps instead of 150 depth-3 trees.'],
  }));
  results.push(await writeAzureVariant(ctx, split, reference.trained, {
    version: '1.2.0-nan', variant: 'degraded', params: AZURE_PARAMS, trainSeconds: reference.seconds, nanScores: true,
    description: `${bad}The 1.0.0 trees with 0/0 (ai.onnx Div) added to their probabilities: a valid ONNX file with the same input and outputs whose every score is NaN.`,
    extraLimits: ['Degraded on purpose: every score is NaN; a device must refuse to commit it after its trial.'],
  }));
  results.push(await writeAzureVariant(ctx, split, reference.trained, {
    version: '1.3.0-noisy', variant: 'degraded', params: AZURE_PARAMS, trainSeconds: reference.seconds, threshold: NOISY_THRESHOLD,
    description: `${bad}The 1.0.0 model with its threshold cut to ${NOISY_THRESHOLD}: it alerts on a large share of healthy hours.`,
    extraLimits: [`Degraded on purpose: threshold ${NOISY_THRESHOLD} instead of the out-of-fold choice.`],
  }));
  return results;
}

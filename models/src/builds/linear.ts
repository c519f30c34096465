/**
 * Builds azure-pdm-failure-24h-linear 1.0.0: the same signals and features as the tree model, but a
 * logistic regression in a plain ai.onnx graph (opset 13, IR 7) whose score is output "score" column 0.
 * It proves the agent's contract holds for a model built a different way.
 */
import type { FeatureSpec } from '@pdm/protocol';
import { buildCard, writeArtifact } from '../card/card.js';
import { referenceBins } from '../card/reference.js';
import { predictLogistic, trainLogistic, logisticParamsSchema, type LogisticModel } from '../linear/logistic.js';
import { exportLogistic, LINEAR_IR_VERSION, LINEAR_OPSETS } from '../onnx/linear.js';
import { AZURE_FULL_AGGS, azureFeatureEntries, azureFeatureSpec } from '../pipelines/azure-features.js';
import { evaluateAzure, splitDescription, type AzureSplit } from '../pipelines/azure-pdm.js';
import { assetFolds, bestF1Threshold, outOfFoldScores, readableThreshold, type FitPredict } from '../pipelines/threshold.js';
import { AZURE_DATA, AZURE_LIMITS, FOLDS } from './azure.js';
import { assertSameScores, elapsedSeconds, scoreWithOnnx, type BuildContext, type BuildResult } from './common.js';

export const LINEAR_NAME = 'azure-pdm-failure-24h-linear';
export const LINEAR_PARAMS = { iterations: 300, learningRate: 0.5, l2: 1e-3, positiveWeight: 1 };

const fitPredict: FitPredict = (train, trainY, valid) => predictLogistic(trainLogistic(train.x, trainY, LINEAR_PARAMS), valid.x);

function strongestWeights(model: LogisticModel, spec: FeatureSpec): string {
  const top = spec.features
    .map((f, i) => ({ name: f.name, w: model.weights[i]! }))
    .sort((a, b) => Math.abs(b.w) - Math.abs(a.w))
    .slice(0, 6)
    .map((f) => `${f.name} (${f.w.toFixed(2)})`);
  return `Largest standardised weights: ${top.join(', ')}.`;
}

export async function buildAzureLinear(ctx: BuildContext, split: AzureSplit): Promise<BuildResult> {
  const started = Date.now();
  const features = azureFeatureEntries(AZURE_FULL_AGGS);
  ctx.progress('train', { model: LINEAR_NAME, version: '1.0.0', rows: split.train.rows, features: features.length });
  const oof = outOfFoldScores(split.train, split.trainY, assetFolds(split.train, FOLDS), fitPredict);
  const best = bestF1Threshold(oof, split.trainY);
  const model = trainLogistic(split.train.x, split.trainY, LINEAR_PARAMS);
  const spec: FeatureSpec = { ...azureFeatureSpec(features, readableThreshold(best.threshold)), output: { name: 'score', column: 0 } };
  const bytes = exportLogistic(model, { inputName: spec.input.name, graphName: LINEAR_NAME, metadata: { name: LINEAR_NAME, version: '1.0.0' } });
  const onnxScores = await scoreWithOnnx(bytes, split.test.x, features.length, spec.output);
  assertSameScores(predictLogistic(model, split.test.x), onnxScores);
  const seconds = elapsedSeconds(started);
  const card = buildCard({
    name: LINEAR_NAME,
    version: '1.0.0',
    description: `Logistic regression over the same 28 telemetry features as azure-pdm-failure-24h, exported as a plain ai.onnx graph (IR ${LINEAR_IR_VERSION}, opset ${LINEAR_OPSETS['']}: Sub, Div, MatMul, Add, Sigmoid) with a single output "score" [N, 1]. A contract check: any ONNX model with a feature spec runs on the agent.`,
    variant: 'reference',
    data: { ...AZURE_DATA, rows: split.train.rows + split.test.rows },
    featureSpec: spec,
    split: splitDescription(FOLDS),
    metrics: evaluateAzure(split, spec, onnxScores),
    thresholdChoice: `Best hour-level F1 (${Math.round(best.f1 * 1e4) / 1e4}) on out-of-fold probabilities of the training period (${FOLDS} folds of whole machines), floored to 4 decimals: ${spec.threshold}.`,
    limits: ['A linear score cannot express "one of four signals is off", so it is weaker than the trees; it exists to prove the contract.', ...AZURE_LIMITS, strongestWeights(model, spec)],
    training: {
      algorithm: 'L2-regularised logistic regression on standardised features, full-batch gradient descent (models/src/linear)',
      params: logisticParamsSchema.parse(LINEAR_PARAMS),
      seed: 0,
      seconds,
    },
    reference: { bins: referenceBins(spec, split.train.x, predictLogistic(model, split.train.x)) },
  }, bytes, ctx.now());
  const artifact = writeArtifact(ctx.artifactsDir, card, bytes);
  ctx.progress('written', { model: LINEAR_NAME, version: '1.0.0', bytes: artifact.modelBytes, seconds });
  return { card, artifact, seconds };
}

/**
 * Builds cmapss-fd001-rul 1.0.0: remaining useful life of a turbofan engine (C-MAPSS FD001), GBDT
 * regression exported as a TreeEnsembleRegressor, scored at each test engine's last cycle.
 */
import { join } from 'node:path';
import { buildCard, writeArtifact } from '../card/card.js';
import { referenceBins } from '../card/reference.js';
import { loadCmapssFd001 } from '../data/cmapss.js';
import { predict } from '../gbdt/model.js';
import { trainGbdt, type GbdtParamsInput } from '../gbdt/train.js';
import { exportTreeRegressor } from '../onnx/tree-ensemble.js';
import { cmapssFeatureSpec, evaluateCmapss, prepareCmapss, RUL_ALERT_CYCLES, RUL_CAP } from '../pipelines/cmapss.js';
import {
  assertSameModelScores, elapsedSeconds, featureNames, scoreWithOnnx, topFeatures, trainingSection,
  type BuildContext, type BuildResult,
} from './common.js';

export const CMAPSS_NAME = 'cmapss-fd001-rul';
/** Set before looking at the test set and not tuned on it. */
export const CMAPSS_PARAMS: GbdtParamsInput = {
  objective: 'squared-error', trees: 300, maxDepth: 5, learningRate: 0.05, minSamplesLeaf: 20,
  subsample: 0.8, colsample: 0.8, maxBins: 128, lambda: 1, minChildWeight: 1, seed: 42,
};
/** onnxruntime sums ~300 leaf values in float32; for outputs up to ~125 cycles that rounds at ~1e-4. */
const REGRESSION_TOLERANCE = 1e-3;

export async function buildCmapss(ctx: BuildContext): Promise<BuildResult> {
  const started = Date.now();
  ctx.progress('load', { dataset: 'cmapss FD001' });
  const split = prepareCmapss(loadCmapssFd001(join(ctx.dataDir, 'cmapss')));
  ctx.progress('train', { model: CMAPSS_NAME, version: '1.0.0', rows: split.train.rows, features: split.train.width });
  const model = trainGbdt(split.train.x, split.trainY, CMAPSS_PARAMS);
  const spec = cmapssFeatureSpec();
  const bytes = exportTreeRegressor(model, { inputName: spec.input.name, graphName: CMAPSS_NAME, metadata: { name: CMAPSS_NAME, version: '1.0.0' } });
  const onnxScores = await scoreWithOnnx(bytes, split.test.x, split.test.width, spec.output);
  assertSameModelScores(model, split.test.x, onnxScores, REGRESSION_TOLERANCE);
  const seconds = elapsedSeconds(started);
  const card = buildCard({
    name: CMAPSS_NAME,
    version: '1.0.0',
    description: `Remaining useful life in cycles of a turbofan engine (NASA C-MAPSS FD001: one operating condition, HPC degradation), capped at ${RUL_CAP}, from the cycle count and the last value, 5- and 30-cycle means and 30-cycle slope of 14 sensors. Alerts when the predicted life is at most ${RUL_ALERT_CYCLES} cycles.`,
    variant: 'reference',
    data: {
      name: 'NASA C-MAPSS Turbofan Engine Degradation Simulation, FD001',
      source: 'models/data/cmapss (see PROVENANCE.md): NASA Ames PCoE Prognostics Data Repository; cite Saxena, Goebel, Simon, Eklund, PHM08',
      licence: 'NASA public release (US government work)',
      rows: split.train.rows + split.test.rows,
    },
    featureSpec: spec,
    split: `Train: all 100 run-to-failure engines of train_FD001 from cycle 30 on (the first cycle with a full 30-cycle window), ${split.train.rows} rows, target min(${RUL_CAP}, cycles to failure). Test: the standard FD001 protocol, each of the 100 test_FD001 engines scored once at its last cycle against RUL_FD001.txt. Published RMSE for comparison (RUL capped at 125): CNN 18.45 (2016), LSTM 16.14 (2017), DCNN 12.61 (2018).`,
    metrics: evaluateCmapss(split, spec, onnxScores),
    thresholdChoice: `Fixed at ${RUL_ALERT_CYCLES} cycles by design (a planning horizon: alert when the predicted remaining life is at most ${RUL_ALERT_CYCLES} cycles), not fitted; the alert${RUL_ALERT_CYCLES} metrics show how well it separates engines truly within ${RUL_ALERT_CYCLES} cycles of failure.`,
    limits: [
      'Simulated engines under one operating condition and one fault mode (FD001); not valid for FD002-FD004 (six conditions, two modes) without retraining on them.',
      `Predictions never exceed about ${RUL_CAP}: early-life engines all read as "${RUL_CAP} or more".`,
      'Needs 30 accepted cycles per engine before the first prediction; the cycle count is a signal the agent must be given (cycles since the engine was new).',
      'Hyperparameters were set once before scoring the test set, not tuned on it; with 100 test engines the RMSE is uncertain by a few cycles (see its bootstrap interval).',
      topFeatures(model, featureNames(spec.features)),
    ],
    training: trainingSection(CMAPSS_PARAMS, seconds),
    reference: { bins: referenceBins(spec, split.train.x, predict(model, split.train.x)) },
  }, bytes, ctx.now());
  const artifact = writeArtifact(ctx.artifactsDir, card, bytes);
  ctx.progress('written', { model: CMAPSS_NAME, version: '1.0.0', bytes: artifact.modelBytes, seconds });
  return { card, artifact, seconds };
}

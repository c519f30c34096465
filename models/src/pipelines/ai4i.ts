/**
 * AI4I 2020 machine failure, from the current process snapshot (window 1, 'last'). Held-out split:
 * a stratified, seeded 20% of rows; the threshold is the best F1 on 5-fold stratified out-of-fold
 * scores of the other 80%. Rows are independent runs, so a random split leaks nothing in time.
 */
import type { FeatureSpec } from '@pdm/protocol';
import { AI4I_COLUMNS, AI4I_MODES, loadAi4i, type Ai4iRow, type Ai4iSignal } from '../data/ai4i.js';
import { alertsOf, bootstrapCi, classificationMetrics, confusion, f1, round, wilson, type Metric } from '../eval/metrics.js';
import { seededRandom } from '../gbdt/random.js';
import { buildFeatureRows, selectRows, type FeatureRows } from '../features.js';
import { trainGbdt, type GbdtParamsInput } from '../gbdt/train.js';
import type { GbdtModel } from '../gbdt/model.js';
import { applyDerived, derivedColumns, type DerivedFeature } from '../onnx/derived.js';
import { bestF1Threshold, gbdtFitPredict, outOfFoldScores, readableThreshold, stratifiedFolds } from './threshold.js';

/** Observed: air 295.3-304.5 K, process 305.7-313.8 K, 1168-2886 rpm, 3.8-76.6 Nm, wear 0-253 min. */
export const AI4I_SIGNALS: FeatureSpec['signals'] = [
  { name: 'type', categories: ['L', 'M', 'H'], min: 0, max: 2 },
  { name: 'air_temperature', unit: 'K', min: 250, max: 350 },
  { name: 'process_temperature', unit: 'K', min: 250, max: 400 },
  { name: 'rotational_speed', unit: 'rpm', min: 0, max: 5000 },
  { name: 'torque', unit: 'Nm', min: 0, max: 200 },
  { name: 'tool_wear', unit: 'min', min: 0, max: 1000 },
];

export function ai4iFeatureSpec(threshold: number): FeatureSpec {
  return {
    signals: AI4I_SIGNALS,
    features: (Object.keys(AI4I_COLUMNS) as Ai4iSignal[]).map((signal) => ({ name: signal, signal, agg: 'last' as const, window: 1 })),
    input: { name: 'features' },
    output: { name: 'probabilities', column: 1 },
    task: 'failure-now',
    threshold,
    alertWhen: 'above',
    // Snapshots are independent process runs with no clock; one a minute is what the replay assumes.
    readingIntervalSeconds: 60,
  };
}

/**
 * The failure modes are physical thresholds on combinations (UCI description): heat dissipation on
 * process - air temperature, power on torque x speed, overstrain on wear x torque. Trees on raw
 * columns would need many splits to approximate a product, so the model's graph derives them.
 * These are 1.0.0's (float32 arithmetic); 1.1.0's are in ai4i-physics.ts.
 */
export const AI4I_DERIVED: DerivedFeature[] = [
  { name: 'temperature_difference', op: 'sub', a: 2, b: 1 },
  { name: 'power_proxy', op: 'mul', a: 4, b: 3 },
  { name: 'overstrain_proxy', op: 'mul', a: 5, b: 4 },
];

export interface Ai4iSplit {
  train: FeatureRows;
  trainY: Uint8Array;
  test: FeatureRows;
  testY: Uint8Array;
  /** Failure-mode flags of every test row, for per-mode recall. */
  testModes: string[][];
  trainStrata: string[];
  total: number;
}

/** Stratum of a row: failure or not, and which failure modes; keeps e.g. the random tool-wear failures' share equal. */
function stratum(row: Ai4iRow): string {
  return `${row.failure}:${row.modes.join('+')}`;
}

export const AI4I_SPLIT_SEED = 2020;

/** The split is the same whatever the derived columns: it depends only on the rows' strata and the seed. */
export function prepareAi4i(dataDir: string, derived: readonly DerivedFeature[] = AI4I_DERIVED): Ai4iSplit {
  const rows = loadAi4i(dataDir);
  // One asset, readings in UDI order: with window 1 every row's features are that row's own values.
  const features = buildFeatureRows(ai4iFeatureSpec(0.5), new Map([[1, rows.map((r) => ({ time: r.udi, raw: r.raw }))]]));
  const width = features.width;
  features.x = applyDerived(features.x, width, derived);
  features.width = width + derivedColumns(derived).length;
  const y = Uint8Array.from(rows, (r) => r.failure);
  const strata = rows.map(stratum);
  const fold = stratifiedFolds(strata, 5, AI4I_SPLIT_SEED);
  const isTest = (i: number): boolean => fold[i] === 0;
  return {
    train: selectRows(features, (i) => !isTest(i)),
    trainY: y.filter((_, i) => !isTest(i)),
    test: selectRows(features, isTest),
    testY: y.filter((_, i) => isTest(i)),
    testModes: rows.filter((_, i) => isTest(i)).map((r) => r.modes),
    trainStrata: strata.filter((_, i) => !isTest(i)),
    total: rows.length,
  };
}

export function trainAi4i(split: Ai4iSplit, params: GbdtParamsInput): { model: GbdtModel; spec: FeatureSpec; validationF1: number } {
  const oof = outOfFoldScores(split.train, split.trainY, stratifiedFolds(split.trainStrata, 5, AI4I_SPLIT_SEED + 1), gbdtFitPredict(params));
  const best = bestF1Threshold(oof, split.trainY);
  return { model: trainGbdt(split.train.x, split.trainY, params), spec: ai4iFeatureSpec(readableThreshold(best.threshold)), validationF1: round(best.f1) };
}

export function evaluateAi4i(split: Ai4iSplit, spec: FeatureSpec, scores: ArrayLike<number>): Record<string, Metric> {
  const alerts = alertsOf(scores, spec.threshold, spec.alertWhen);
  const c = confusion(alerts, split.testY);
  return {
    ...classificationMetrics('row', c, 'snapshot'),
    'row.f1': { value: round(f1(c)), ci: f1Interval(alerts, split.testY), note: 'percentile bootstrap 95% interval over the held-out rows (1000 seeded resamples)' },
    'row.falsePositives': { value: c.fp, note: 'alerts on snapshots without a failure' },
    ...modeRecalls(split, alerts),
    'test.rows': { value: split.test.rows, note: `${c.tp + c.fn} machine failures among them` },
  };
}

/** Bootstrap interval of F1: resample the held-out rows with replacement, recompute F1 each time. */
function f1Interval(alerts: readonly boolean[], labels: ArrayLike<number>): [number, number] {
  return bootstrapCi(alerts.length, (indices) => {
    const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
    for (const i of indices) {
      if (alerts[i]) c[labels[i] === 1 ? 'tp' : 'fp'] += 1;
      else c[labels[i] === 1 ? 'fn' : 'tn'] += 1;
    }
    return f1(c);
  }, seededRandom(AI4I_SPLIT_SEED));
}

/** Recall per failure mode among the test failures: tool-wear (TWF) and random (RNF) failures are the hard ones. */
function modeRecalls(split: Ai4iSplit, alerts: readonly boolean[]): Record<string, Metric> {
  const out: Record<string, Metric> = {};
  for (const mode of AI4I_MODES) {
    const rows = split.testModes.flatMap((modes, i) => (modes.includes(mode) && split.testY[i] === 1 ? [i] : []));
    if (rows.length === 0) continue;
    const caught = rows.filter((i) => alerts[i]).length;
    out[`recall.${mode}`] = { value: round(caught / rows.length), ci: wilson(caught, rows.length), note: `${caught} of ${rows.length} test failures with mode ${mode}` };
  }
  return out;
}

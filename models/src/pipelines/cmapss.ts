/**
 * C-MAPSS FD001 remaining useful life. Target: cycles to failure, capped at 125 (the piecewise-linear
 * target of the published baselines: early in life the degradation is invisible). Features: each
 * informative sensor's last value, mean of the last 5 and 30 cycles and slope over 30, plus the cycle
 * count. Windows stop at 30 because the shortest test series has 31 cycles and every test engine must
 * be scored at its last cycle.
 */
import type { Aggregation, FeatureSpec, FeatureSpecEntry, SignalSpec } from '@pdm/protocol';
import type { CmapssCycle, CmapssFd001 } from '../data/cmapss.js';
import { alertsOf, bootstrapCi, classificationMetrics, confusion, rmse, round, type Metric } from '../eval/metrics.js';
import { seededRandom } from '../gbdt/random.js';
import { buildFeatureRows, type FeatureRows } from '../features.js';

export const RUL_CAP = 125;
/** Sensors that vary in FD001; s1, s5, s6, s10, s16, s18, s19 are constant under its one operating condition. */
export const CMAPSS_SENSORS = ['s2', 's3', 's4', 's7', 's8', 's9', 's11', 's12', 's13', 's14', 's15', 's17', 's20', 's21'] as const;

/** Observed FD001 ranges with generous margins; they reject unit mix-ups and stuck-at values far outside. */
const SENSOR_RANGES: Record<(typeof CMAPSS_SENSORS)[number], [number, number, string]> = {
  s2: [600, 700, 'degR'], s3: [1500, 1700, 'degR'], s4: [1300, 1500, 'degR'], s7: [500, 600, 'psia'],
  s8: [2300, 2500, 'rpm'], s9: [8900, 9400, 'rpm'], s11: [40, 55, 'psia'], s12: [470, 560, 'pps/psi'],
  s13: [2300, 2500, 'rpm'], s14: [7900, 8400, 'rpm'], s15: [7.5, 9.5, ''], s17: [370, 420, ''],
  s20: [30, 45, 'lbm/s'], s21: [18, 27, 'lbm/s'],
};

export const CMAPSS_SIGNALS: SignalSpec[] = [
  { name: 'cycle', unit: 'cycles', min: 1, max: 1000 },
  ...CMAPSS_SENSORS.map((s) => {
    const [min, max, unit] = SENSOR_RANGES[s];
    return unit === '' ? { name: s, min, max } : { name: s, unit, min, max };
  }),
];

const SENSOR_AGGS: readonly (readonly [Aggregation, number])[] = [['last', 1], ['mean', 5], ['mean', 30], ['slope', 30]];

export function cmapssFeatures(): FeatureSpecEntry[] {
  return [
    { name: 'cycle', signal: 'cycle', agg: 'last', window: 1 },
    ...CMAPSS_SENSORS.flatMap((s) => SENSOR_AGGS.map(([agg, window]) => ({ name: `${s}_${agg}_${window}`, signal: s, agg, window }))),
  ];
}

/** Alert when the predicted remaining life is at most this many cycles: time to plan a shop visit. */
export const RUL_ALERT_CYCLES = 30;

export function cmapssFeatureSpec(): FeatureSpec {
  return {
    signals: CMAPSS_SIGNALS,
    features: cmapssFeatures(),
    input: { name: 'features' },
    output: { name: 'prediction', column: 0 },
    task: 'remaining-useful-life',
    threshold: RUL_ALERT_CYCLES,
    alertWhen: 'below',
    // One reading per flight cycle; the data has no clock, one cycle an hour is the replay's assumption.
    readingIntervalSeconds: 3600,
  };
}

function series(units: Map<number, CmapssCycle[]>): Map<number, { time: number; raw: Record<string, number> }[]> {
  return new Map([...units].map(([u, cycles]) => [u, cycles.map((c) => ({ time: c.cycle, raw: c.values }))]));
}

export interface CmapssSplit {
  train: FeatureRows;
  trainY: Float64Array;
  /** One row per test unit: its last cycle. */
  test: FeatureRows;
  testRul: Float64Array;
}

export function prepareCmapss(data: CmapssFd001): CmapssSplit {
  const spec = cmapssFeatureSpec();
  const train = buildFeatureRows(spec, series(data.train));
  const lastCycle = new Map([...data.train].map(([u, cycles]) => [u, cycles[cycles.length - 1]!.cycle]));
  const trainY = Float64Array.from(train.times, (cycle, i) => Math.min(RUL_CAP, lastCycle.get(train.assetIds[i]!)! - cycle));
  const allTest = buildFeatureRows(spec, series(data.test));
  const lastRows: number[] = [];
  allTest.assetIds.forEach((u, i) => {
    if (allTest.assetIds[i + 1] !== u) lastRows.push(i);
  });
  const width = allTest.width;
  const x = new Float32Array(lastRows.length * width);
  lastRows.forEach((row, k) => x.set(allTest.x.subarray(row * width, (row + 1) * width), k * width));
  const test: FeatureRows = {
    x, width, rows: lastRows.length,
    assetIds: lastRows.map((i) => allTest.assetIds[i]!),
    times: lastRows.map((i) => allTest.times[i]!),
    rejected: allTest.rejected,
  };
  return { train, trainY, test, testRul: Float64Array.from(test.assetIds, (u) => data.testRul.get(u)!) };
}

/** PHM08 score: sum of exp(-d/13)-1 for early (d<0) and exp(d/10)-1 for late predictions, d = predicted - true. */
export function phm08Score(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = predicted[i]! - actual[i]!;
    s += d < 0 ? Math.exp(-d / 13) - 1 : Math.exp(d / 10) - 1;
  }
  return s;
}

export function evaluateCmapss(split: CmapssSplit, spec: FeatureSpec, predicted: ArrayLike<number>): Record<string, Metric> {
  const capped = Float64Array.from(split.testRul, (r) => Math.min(RUL_CAP, r));
  let mae = 0;
  for (let i = 0; i < capped.length; i++) mae += Math.abs(predicted[i]! - split.testRul[i]!);
  const truthSoon = Uint8Array.from(split.testRul, (r) => (r <= spec.threshold ? 1 : 0));
  const c = confusion(alertsOf(predicted, spec.threshold, spec.alertWhen), truthSoon);
  const rmseOf = (idx: Uint32Array): number => rmse(Array.from(idx, (i) => predicted[i]!), Array.from(idx, (i) => split.testRul[i]!));
  return {
    rmse: { value: round(rmse(predicted, split.testRul), 3), ci: bootstrapCi(capped.length, rmseOf, seededRandom(7)), note: `at the last cycle of each of the ${split.test.rows} test engines, against the true RUL (RUL_FD001.txt, 7-145); interval: bootstrap over engines, 1000 rounds` },
    'rmse.cappedTruth': { value: round(rmse(predicted, capped), 3), note: `true RUL also capped at ${RUL_CAP}, as some papers score` },
    phm08: { value: round(phm08Score(predicted, split.testRul), 1), note: 'PHM08 score, lower is better; late predictions cost more' },
    mae: { value: round(mae / capped.length, 3), note: 'mean absolute error in cycles' },
    ...classificationMetrics(`alert${spec.threshold}`, c, 'engine'),
  };
}

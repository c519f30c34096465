/**
 * The feature spec of the Azure PdM "failure within 24 h" models: four hourly telemetry signals and
 * rolling aggregates over the last 3 and 24 readings, computed by @pdm/protocol's FeatureWindows on the
 * agent and in training alike.
 */
import type { Aggregation, FeatureSpec, FeatureSpecEntry, SignalSpec } from '@pdm/protocol';
import { AZURE_SIGNALS } from '../data/azure-pdm.js';

/**
 * Observed ranges in the sample: volt 116-238, rotate 213-653, pressure 59-162, vibration 20-67. The
 * limits leave generous room for real machines but reject sign errors, unit mix-ups and stuck-at-max.
 */
export const AZURE_SIGNAL_SPECS: SignalSpec[] = [
  { name: 'volt', unit: 'V', min: 0, max: 400 },
  { name: 'rotate', unit: 'rpm', min: 0, max: 1200 },
  { name: 'pressure', min: 0, max: 300 },
  { name: 'vibration', min: 0, max: 150 },
];

export type WindowedAgg = readonly [Aggregation, number];

/** The reference feature set: 7 aggregates x 4 signals = 28 features. */
export const AZURE_FULL_AGGS: readonly WindowedAgg[] = [
  ['mean', 3], ['std', 3], ['mean', 24], ['std', 24], ['max', 24], ['min', 24], ['slope', 24],
];

export function azureFeatureEntries(aggs: readonly WindowedAgg[]): FeatureSpecEntry[] {
  return AZURE_SIGNALS.flatMap((signal) =>
    aggs.map(([agg, window]) => ({ name: `${signal}_${agg}_${window}`, signal, agg, window })),
  );
}

export const HORIZON_HOURS = 24;

export function azureFeatureSpec(features: FeatureSpecEntry[], threshold: number): FeatureSpec {
  return {
    signals: AZURE_SIGNAL_SPECS,
    features,
    input: { name: 'features' },
    output: { name: 'probabilities', column: 1 },
    task: 'failure-within-horizon',
    threshold,
    alertWhen: 'above',
    horizonHours: HORIZON_HOURS,
    readingIntervalSeconds: 3600,
  };
}

/**
 * Azure PdM with the machines' logs as signals (version 2.0.0): the hourly telemetry plus, at every
 * reading, the error counts since the previous reading and the hours since each component's last
 * replacement, computed by @pdm/protocol's LogSignals (the code a device will run) and then windowed
 * by FeatureWindows like any signal.
 */
import { LogSignals, type FeatureSpec, type FeatureSpecEntry, type LogEntry, type SignalSpec } from '@pdm/protocol';
import type { AzureData } from '../data/azure-pdm.js';
import type { TimedReading } from '../features.js';
import { AZURE_SIGNAL_SPECS, azureFeatureSpec } from './azure-features.js';

export const AZURE_ERROR_CODES = ['error1', 'error2', 'error3', 'error4', 'error5'] as const;
export const AZURE_COMPONENTS = ['comp1', 'comp2', 'comp3', 'comp4'] as const;

/** Counts per hour are small; a component's age is at most a few years in hours. */
export const AZURE_LOG_SIGNAL_SPECS: SignalSpec[] = [
  ...AZURE_ERROR_CODES.map((code) => ({ name: `errors_${code}`, min: 0, max: 1000 })),
  ...AZURE_COMPONENTS.map((component) => ({ name: `hours_since_${component}`, unit: 'h', min: 0, max: 24 * 3650 })),
];

/** Errors per hour over the last 24 readings (the mean of hourly counts) and each component's age now. */
export function azureLogFeatureEntries(errorWindow = 24): FeatureSpecEntry[] {
  return [
    ...AZURE_ERROR_CODES.map((code) => ({ name: `errors_${code}_mean_${errorWindow}`, signal: `errors_${code}`, agg: 'mean' as const, window: errorWindow })),
    ...AZURE_COMPONENTS.map((component) => ({ name: `hours_since_${component}`, signal: `hours_since_${component}`, agg: 'last' as const, window: 1 })),
  ];
}

export function azureLogFeatureSpec(features: FeatureSpecEntry[], threshold: number): FeatureSpec {
  return { ...azureFeatureSpec(features, threshold), signals: [...AZURE_SIGNAL_SPECS, ...AZURE_LOG_SIGNAL_SPECS] };
}

/** Telemetry readings with the log signals merged in, per machine: what a device's source would deliver. */
export function azureLogSeries(data: AzureData, logs: ReadonlyMap<number, readonly LogEntry[]>): Map<number, TimedReading[]> {
  const names = AZURE_LOG_SIGNAL_SPECS.map((s) => s.name);
  const series = new Map<number, TimedReading[]>();
  for (const [id, rows] of data.telemetry) {
    const log = logs.get(id) ?? [];
    const signals = new LogSignals(names);
    let next = 0;
    series.set(id, rows.map((r) => {
      while (next < log.length && log[next]!.time <= r.time) signals.record(log[next++]!);
      return { time: r.time, raw: { ...r.values, ...signals.valuesAt(r.time) } };
    }));
  }
  return series;
}

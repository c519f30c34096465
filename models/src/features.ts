/**
 * Turns per-asset series of raw readings into the model's input rows with exactly the code the agent
 * runs at inference (@pdm/protocol checkReading + FeatureWindows), so training and serving agree by
 * construction: a rejected reading is skipped, and a row exists only once every window is full.
 */
import { checkReading, FeatureWindows, type FeatureSpec, type ReadingRejectReason } from '@pdm/protocol';

export interface TimedReading {
  time: number;
  raw: Readonly<Record<string, unknown>>;
}

export interface FeatureRows {
  /** Feature values, row-major [rows, width], float32 as the agent feeds them to the model. */
  x: Float32Array;
  width: number;
  rows: number;
  assetIds: number[];
  times: number[];
  rejected: Partial<Record<ReadingRejectReason, number>>;
}

export function buildFeatureRows(spec: FeatureSpec, series: ReadonlyMap<number, readonly TimedReading[]>): FeatureRows {
  const width = spec.features.length;
  const chunks: Float32Array[] = [];
  const assetIds: number[] = [];
  const times: number[] = [];
  const rejected: Partial<Record<ReadingRejectReason, number>> = {};
  for (const [assetId, readings] of series) {
    const windows = new FeatureWindows(spec);
    for (const reading of readings) {
      const check = checkReading(spec, reading.raw);
      if (!check.ok) {
        rejected[check.reason] = (rejected[check.reason] ?? 0) + 1;
        continue;
      }
      windows.push(check.values);
      const row = windows.vector();
      if (row === undefined) continue;
      chunks.push(row);
      assetIds.push(assetId);
      times.push(reading.time);
    }
  }
  const x = new Float32Array(chunks.length * width);
  chunks.forEach((row, i) => x.set(row, i * width));
  return { x, width, rows: chunks.length, assetIds, times, rejected };
}

/** The rows whose index passes `keep`, as a new FeatureRows. */
export function selectRows(data: FeatureRows, keep: (i: number) => boolean): FeatureRows {
  const picked: number[] = [];
  for (let i = 0; i < data.rows; i++) if (keep(i)) picked.push(i);
  const x = new Float32Array(picked.length * data.width);
  picked.forEach((src, dst) => x.set(data.x.subarray(src * data.width, (src + 1) * data.width), dst * data.width));
  return {
    x,
    width: data.width,
    rows: picked.length,
    assetIds: picked.map((i) => data.assetIds[i]!),
    times: picked.map((i) => data.times[i]!),
    rejected: data.rejected,
  };
}

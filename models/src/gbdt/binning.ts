/**
 * Quantile binning for histogram split finding. Each feature gets at most `maxBins` bins separated by
 * float32 edges; a value goes to the first bin whose edge is >= the value. A split "bin <= k" is then
 * exactly "x <= edges[k]" on float32 inputs, which is the BRANCH_LEQ test the exported ONNX model runs,
 * so the partition seen in training is the partition seen at inference.
 */
import { PdmError } from '@pdm/protocol';

export interface BinnedFeatures {
  rows: number;
  width: number;
  /** Per feature: the bin index of every row (column-major for cache-friendly histograms). */
  bins: Uint16Array[];
  /** Per feature: ascending float32 edges; bin count = edges.length + 1. */
  edges: Float32Array[];
}

export const MAX_BINS = 4096;

/** Edges for one feature from its (unsorted) values. */
export function featureEdges(values: Float32Array, maxBins: number): Float32Array {
  const sorted = Float32Array.from(values).sort();
  const distinct: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) distinct.push(sorted[i]!);
  // Lower bounds of the bins to split after: every distinct value when few, else quantiles.
  const lows = new Set<number>();
  if (distinct.length <= maxBins) {
    for (let i = 0; i < distinct.length - 1; i++) lows.add(distinct[i]!);
  } else {
    for (let k = 1; k < maxBins; k++) lows.add(sorted[Math.floor((k * sorted.length) / maxBins)]!);
  }
  const edges: number[] = [];
  for (const lo of [...lows].sort((a, b) => a - b)) {
    const hi = distinct[upperIndex(distinct, lo)];
    if (hi === undefined) continue;
    // Midpoint between neighbours generalises better than the value itself; it must stay < hi in float32.
    const mid = Math.fround((lo + hi) / 2);
    edges.push(mid < hi && mid >= lo ? mid : lo);
  }
  return Float32Array.from(edges);
}

function upperIndex(distinct: readonly number[], value: number): number {
  let lo = 0;
  let hi = distinct.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (distinct[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Bin index of a value: the first edge >= value, or the last bin. */
export function binOf(edges: Float32Array, value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function fitBins(x: Float32Array, rows: number, width: number, maxBins: number): BinnedFeatures {
  if (maxBins < 2 || maxBins > MAX_BINS) {
    throw new PdmError('INTERNAL', `maxBins must be within 2..${MAX_BINS}, got ${maxBins}`);
  }
  const edges: Float32Array[] = [];
  const bins: Uint16Array[] = [];
  const column = new Float32Array(rows);
  for (let f = 0; f < width; f++) {
    for (let r = 0; r < rows; r++) {
      const v = x[r * width + f]!;
      if (!Number.isFinite(v)) {
        throw new PdmError('INTERNAL', `training feature ${f} of row ${r} is not finite (${v})`);
      }
      column[r] = v;
    }
    const e = featureEdges(column, maxBins);
    const b = new Uint16Array(rows);
    for (let r = 0; r < rows; r++) b[r] = binOf(e, column[r]!);
    edges.push(e);
    bins.push(b);
  }
  return { rows, width, bins, edges };
}

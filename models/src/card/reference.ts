/**
 * Reference distributions for drift checks on the device or the controller: decile bins of every
 * feature and of the score over the training rows (card.reference.bins). A value falls in bin i when
 * edges[i] <= v < edges[i+1]; the last bin also holds the maximum.
 */
import type { FeatureSpec } from '@pdm/protocol';
import { round } from '../eval/metrics.js';

export interface Bins {
  edges: number[];
  shares: number[];
}

export function quantileBins(values: ArrayLike<number>, count = 10): Bins {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const edges: number[] = [];
  for (let k = 0; k <= count; k++) {
    const edge = round(sorted[Math.min(n - 1, Math.floor((k * (n - 1)) / count))]!, 6);
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  if (edges.length === 1) edges.push(edges[0]!);
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of sorted) {
    let i = 0;
    while (i < counts.length - 1 && v >= edges[i + 1]!) i += 1;
    counts[i]! += 1;
  }
  return { edges, shares: counts.map((c) => round(c / n, 6)) };
}

export function referenceBins(spec: FeatureSpec, x: Float32Array, scores: ArrayLike<number>): Record<string, Bins> {
  const width = spec.features.length;
  const rows = x.length / width;
  const bins: Record<string, Bins> = {};
  spec.features.forEach((f, j) => {
    const column = new Float64Array(rows);
    for (let r = 0; r < rows; r++) column[r] = x[r * width + j]!;
    bins[f.name] = quantileBins(column);
  });
  bins['score'] = quantileBins(scores);
  return bins;
}

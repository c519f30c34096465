/**
 * Population stability index of a window's values against a reference distribution from training:
 * PSI = sum over bins of (actual - expected) * ln(actual / expected), shares per bin. Zero shares are
 * replaced by a small floor (1e-4) so an empty bin adds a bounded amount instead of infinity; a common
 * reading is < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift. The reference bins come
 * from the model card (`reference.bins`): edges ascending, one share per bin.
 */

export const PSI_FLOOR = 1e-4;

/** Bin of `v` for ascending `edges` (k+1 edges, k bins); values below or above the range go to the end bins. */
export function binIndex(edges: readonly number[], v: number): number {
  const k = edges.length - 1;
  if (!(v >= edges[0]!)) return 0;
  if (v >= edges[k]!) return k - 1;
  let lo = 0;
  let hi = k;
  // invariant: edges[lo] <= v < edges[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! <= v) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** PSI of bin counts against expected shares (normalised, since card shares are rounded). */
export function psi(expectedShares: readonly number[], counts: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < counts.length; i++) n += counts[i]!;
  const total = expectedShares.reduce((a, b) => a + b, 0);
  if (n === 0 || total <= 0) return 0;
  let sum = 0;
  for (let i = 0; i < expectedShares.length; i++) {
    const e = Math.max(expectedShares[i]! / total, PSI_FLOOR);
    const a = Math.max((counts[i] ?? 0) / n, PSI_FLOOR);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

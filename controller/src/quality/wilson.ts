/**
 * Wilson score interval for a binomial proportion (Wilson 1927): unlike the normal approximation it
 * stays inside [0, 1] and behaves with few samples or a rate near 0 or 1, which is where precision and
 * recall of failure predictions live. z = 1.96 gives the 95% interval.
 */
export const Z95 = 1.96;

export interface Rate {
  /** successes / n; null when n is 0. */
  value: number | null;
  /** 95% Wilson interval; null when n is 0. */
  ci: [number, number] | null;
  successes: number;
  n: number;
}

export function wilson(successes: number, n: number, z = Z95): [number, number] | null {
  if (n <= 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator;
  return [round(Math.max(0, centre - half)), round(Math.min(1, centre + half))];
}

export function rate(successes: number, n: number): Rate {
  return { value: n > 0 ? round(successes / n) : null, ci: wilson(successes, n), successes, n };
}

const round = (v: number): number => Math.round(v * 1e6) / 1e6;

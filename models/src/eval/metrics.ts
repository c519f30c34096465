/**
 * Classification and regression metrics with their uncertainty. Proportions (precision, recall) carry
 * Wilson score 95% intervals, which stay inside [0, 1] and behave with the few failure events a
 * held-out month has; accuracy is never reported (predicting "no failure" is already >95% accurate).
 */

export interface Metric {
  value: number;
  ci?: [number, number];
  note?: string;
}

const Z95 = 1.959963984540054;

/** Wilson score interval for `successes` out of `n` (95% by default); [0, 1] when n is 0. */
export function wilson(successes: number, n: number, z = Z95): [number, number] {
  if (n === 0) return [0, 1];
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [round(Math.max(0, centre - half)), round(Math.min(1, centre + half))];
}

export function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export function alertsOf(scores: ArrayLike<number>, threshold: number, alertWhen: 'above' | 'below'): boolean[] {
  return Array.from({ length: scores.length }, (_, i) => (alertWhen === 'above' ? scores[i]! >= threshold : scores[i]! <= threshold));
}

export function confusion(alerts: readonly boolean[], labels: ArrayLike<number>): Confusion {
  const c: Confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  alerts.forEach((alert, i) => {
    const positive = labels[i] === 1;
    if (alert && positive) c.tp += 1;
    else if (alert) c.fp += 1;
    else if (positive) c.fn += 1;
    else c.tn += 1;
  });
  return c;
}

export function precision(c: Confusion): number {
  return c.tp + c.fp === 0 ? 0 : c.tp / (c.tp + c.fp);
}

export function recall(c: Confusion): number {
  return c.tp + c.fn === 0 ? 0 : c.tp / (c.tp + c.fn);
}

export function f1(c: Confusion): number {
  return 2 * c.tp + c.fp + c.fn === 0 ? 0 : (2 * c.tp) / (2 * c.tp + c.fp + c.fn);
}

/** Precision, recall and F1 as card metrics under `prefix`, with Wilson intervals on the proportions. */
export function classificationMetrics(prefix: string, c: Confusion, unit: string): Record<string, Metric> {
  return {
    [`${prefix}.precision`]: { value: round(precision(c)), ci: wilson(c.tp, c.tp + c.fp), note: `${c.tp} of ${c.tp + c.fp} alerted ${unit}s were positive` },
    [`${prefix}.recall`]: { value: round(recall(c)), ci: wilson(c.tp, c.tp + c.fn), note: `${c.tp} of ${c.tp + c.fn} positive ${unit}s alerted` },
    [`${prefix}.f1`]: { value: round(f1(c)), note: 'no interval: F1 is not a binomial proportion' },
  };
}

/** Every distinct score as a candidate threshold, with the confusion at that threshold (alert when >=). */
export function thresholdSweep(scores: ArrayLike<number>, labels: ArrayLike<number>): { threshold: number; c: Confusion }[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const positives = Array.from({ length: labels.length }, (_, i) => labels[i]!).filter((y) => y === 1).length;
  const out: { threshold: number; c: Confusion }[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (labels[i] === 1) tp += 1;
    else fp += 1;
    const next = order[k + 1];
    if (next !== undefined && scores[next] === scores[i]) continue;
    out.push({ threshold: scores[i]!, c: { tp, fp, fn: positives - tp, tn: order.length - positives - fp } });
  }
  return out;
}

export function rmse(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  let ss = 0;
  for (let i = 0; i < actual.length; i++) ss += (predicted[i]! - actual[i]!) ** 2;
  return Math.sqrt(ss / actual.length);
}

/**
 * Percentile bootstrap 95% interval of a statistic over `n` paired items (seeded, deterministic):
 * `stat` receives the resampled item indices.
 */
export function bootstrapCi(n: number, stat: (indices: Uint32Array) => number, random: () => number, rounds = 1000): [number, number] {
  const values = new Float64Array(rounds);
  const indices = new Uint32Array(n);
  for (let b = 0; b < rounds; b++) {
    for (let i = 0; i < n; i++) indices[i] = Math.floor(random() * n);
    values[b] = stat(indices);
  }
  values.sort();
  return [round(values[Math.floor(0.025 * (rounds - 1))]!, 3), round(values[Math.ceil(0.975 * (rounds - 1))]!, 3)];
}

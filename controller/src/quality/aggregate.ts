/**
 * Quality windows summed across devices and over time. Precision = tp / (tp + fp) and recall =
 * tp / (tp + fn) over matured predictions; event recall = caught / (caught + missed) failures; each
 * with its 95% Wilson interval. Sums of counts are exact, so the totals of any set of windows are the
 * totals of the predictions in them.
 */
import type { DriftRow, QualityRow } from './quality-repo.js';
import { rate, type Rate } from './wilson.js';

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface EventFigures {
  caught: number;
  missed: number;
  falseAlarms: number;
  /** caught / (caught + missed) */
  recall: Rate;
  leadHours: { n: number; median: number | null; mean: number | null };
}

export interface QualityTotals {
  /** Matured predictions counted: tp + fp + tn + fn. */
  matured: number;
  confusion: Confusion;
  precision: Rate;
  recall: Rate;
  events: EventFigures;
  windows: number;
  devices: number;
  /** Earliest window start and latest window end (event time). */
  from: string | null;
  to: string | null;
}

export interface SeriesPoint {
  start: string;
  end: string;
  matured: number;
  confusion: Confusion;
  precision: Rate;
  recall: Rate;
  caught: number;
  missed: number;
  falseAlarms: number;
  devices: number;
}

/** Matured predictions, precision and recall of summed confusion counts. */
export function confusionRates(c: Confusion): Pick<QualityTotals, 'matured' | 'confusion' | 'precision' | 'recall'> {
  return { matured: c.tp + c.fp + c.tn + c.fn, confusion: c, precision: rate(c.tp, c.tp + c.fp), recall: rate(c.tp, c.tp + c.fn) };
}

export function totals(rows: readonly QualityRow[]): QualityTotals {
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  let caught = 0;
  let missed = 0;
  let falseAlarms = 0;
  const leads: number[] = [];
  for (const r of rows) {
    c.tp += r.tp;
    c.fp += r.fp;
    c.tn += r.tn;
    c.fn += r.fn;
    caught += r.caught;
    missed += r.missed;
    falseAlarms += r.falseAlarms;
    leads.push(...r.leadHours);
  }
  leads.sort((a, b) => a - b);
  const starts = rows.map((r) => r.windowStart).sort();
  const ends = rows.map((r) => r.windowEnd).sort();
  return {
    ...confusionRates(c),
    events: {
      caught, missed, falseAlarms, recall: rate(caught, caught + missed),
      leadHours: { n: leads.length, median: median(leads), mean: leads.length === 0 ? null : round(leads.reduce((a, b) => a + b, 0) / leads.length) },
    },
    windows: rows.length,
    devices: new Set(rows.map((r) => r.deviceId)).size,
    from: starts[0] ?? null,
    to: ends[ends.length - 1] ?? null,
  };
}

/**
 * Totals per time bucket: the devices' windows (aligned to the epoch on every device) by their start,
 * or, with `bucketMs`, by buckets of that length aligned to the Unix epoch.
 */
export function series(rows: readonly QualityRow[], bucketMs?: number): SeriesPoint[] {
  const buckets = new Map<number, { end: number; rows: QualityRow[] }>();
  for (const r of rows) {
    const start = Date.parse(r.windowStart);
    const key = bucketMs === undefined ? start : Math.floor(start / bucketMs) * bucketMs;
    const end = bucketMs === undefined ? Date.parse(r.windowEnd) : key + bucketMs;
    const b = buckets.get(key) ?? { end, rows: [] };
    b.end = Math.max(b.end, end);
    b.rows.push(r);
    buckets.set(key, b);
  }
  return [...buckets.entries()].sort(([a], [b]) => a - b).map(([start, b]) => {
    const t = totals(b.rows);
    return {
      start: new Date(start).toISOString(), end: new Date(b.end).toISOString(), matured: t.matured, confusion: t.confusion,
      precision: t.precision, recall: t.recall, caught: t.events.caught, missed: t.events.missed, falseAlarms: t.events.falseAlarms,
      devices: t.devices,
    };
  });
}

export interface DriftPoint {
  start: string;
  end: string;
  /** Rows over all devices' windows starting here. */
  n: number;
  /** Mean over devices of the score PSI. */
  scorePsi: number | null;
  /** Largest feature PSI of any device, and which feature. */
  maxFeaturePsi: number | null;
  maxFeature: string | null;
  /** Mean over devices of the median feature PSI (the drift alert's feature measure). */
  medianFeaturePsi: number | null;
  devices: number;
}

export function driftSeries(rows: readonly DriftRow[]): DriftPoint[] {
  const byStart = new Map<string, DriftRow[]>();
  for (const r of rows) byStart.set(r.windowStart, [...(byStart.get(r.windowStart) ?? []), r]);
  return [...byStart.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([start, rs]) => {
    const scores = rs.map((r) => r.scorePsi).filter((v): v is number => v !== null);
    const medians = rs.map((r) => r.medianFeaturePsi).filter((v): v is number => v !== null);
    const top = rs.filter((r) => r.maxFeaturePsi !== null).sort((a, b) => b.maxFeaturePsi! - a.maxFeaturePsi!)[0];
    return {
      start, end: rs.map((r) => r.windowEnd).sort().at(-1)!, n: rs.reduce((s, r) => s + r.n, 0),
      scorePsi: scores.length === 0 ? null : round(scores.reduce((a, b) => a + b, 0) / scores.length),
      maxFeaturePsi: top?.maxFeaturePsi ?? null, maxFeature: top?.maxFeature ?? null,
      medianFeaturePsi: medians.length === 0 ? null : round(medians.reduce((a, b) => a + b, 0) / medians.length), devices: new Set(rs.map((r) => r.deviceId)).size,
    };
  });
}

function median(sorted: readonly number[]): number | null {
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

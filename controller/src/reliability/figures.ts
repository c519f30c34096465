/**
 * Reliability figures of a set of assets over a period (definitions: ./definitions.ts, docs/metrics.md):
 * calendar hours, downtime by cause, operating hours, failures, MTBF (SMRP 3.5.1), MTTR (SMRP 3.5.2),
 * availability. Sums over assets first, ratios last, so a group's MTBF is its operating hours over its
 * failures (not a mean of the assets' MTBFs).
 */
import { CAUSES, hoursWithin, type Cause, type Downtime } from './intervals.js';
import { PeriodSums, SUM_FIELDS, periodSums } from './period-sums.js';

export interface Figures {
  assets: number;
  calendarHours: number;
  operatingHours: number;
  downtimeHours: Record<Cause, number>;
  failures: number;
  /** Operating hours per failure; null without failures. */
  mtbfHours: number | null;
  /** Repairs (failures) in the period and their total repair time, from the asset stopping. */
  repairs: number;
  repairHours: number;
  /** Repair hours per repair; null without repairs. */
  mttrHours: number | null;
  /** operating / (operating + unplanned + planned); other (external) downtime is left out. */
  availability: number | null;
  maintenance: number;
}

const round = (v: number, places = 4): number => {
  const f = 10 ** places;
  return Math.round(v * f) / f;
};

export function figures(d: Downtime, assetIds: readonly string[], from: number, to: number): Figures {
  return figuresPerPeriod(d, assetIds, [[from, to]])[0]!;
}

/**
 * The figures of a set of assets for each of several periods (a group's whole period and its trend
 * buckets): a report by asset at 10,000 assets asks for 140,000 figures. Each asset's sums per period
 * are added in the order of the assets, kept between reports where `d` carries them (period-sums.ts),
 * else computed for this call: the same additions in the same order either way.
 */
export function figuresPerPeriod(d: Downtime, assetIds: readonly string[], periods: readonly (readonly [number, number])[]): Figures[] {
  const assets = new Set(assetIds);
  const acc = new Float64Array(periods.length * SUM_FIELDS);
  (d.sums ?? new PeriodSums()).addInto(d.perAsset, assets, periods, acc);
  return periods.map(([f, t], k) => summarise(assets.size, f, t, periodSums(acc, k)));
}

function summarise(assets: number, from: number, to: number, a: { downtimeHours: Record<Cause, number>; repairs: number; repairHours: number; maintenance: number }): Figures {
  const { downtimeHours, repairs, repairHours } = a;
  const calendarHours = assets * Math.max(0, to - from) / 3_600_000;
  const down = CAUSES.reduce((sum, c) => sum + downtimeHours[c], 0);
  const operatingHours = calendarHours - down;
  const counted = operatingHours + downtimeHours.unplanned + downtimeHours.planned;
  return {
    assets,
    calendarHours: round(calendarHours),
    operatingHours: round(operatingHours),
    downtimeHours: { unplanned: round(downtimeHours.unplanned), planned: round(downtimeHours.planned), other: round(downtimeHours.other) },
    failures: repairs,
    mtbfHours: repairs === 0 ? null : round(operatingHours / repairs),
    repairs,
    repairHours: round(repairHours),
    mttrHours: repairs === 0 ? null : round(repairHours / repairs),
    availability: counted <= 0 ? null : round(operatingHours / counted, 6),
    maintenance: a.maintenance,
  };
}

export interface ParetoEntry {
  key: string;
  hours: number;
  share: number;
  cumulativeShare: number;
}

/** Entries sorted by hours, largest first, with their share of the total and the running share. */
export function pareto(hoursByKey: ReadonlyMap<string, number>): ParetoEntry[] {
  const total = [...hoursByKey.values()].reduce((a, b) => a + b, 0);
  let running = 0;
  return [...hoursByKey.entries()]
    .filter(([, h]) => h > 0)
    .sort(([ka, a], [kb, b]) => b - a || ka.localeCompare(kb))
    .map(([key, hours]) => {
      running += hours;
      return { key, hours: round(hours), share: round(hours / total, 6), cumulativeShare: round(running / total, 6) };
    });
}

/** Downtime hours in [from, to) per asset, per cause and per failed component (unplanned only). */
export function downtimeBreakdown(d: Downtime, assetIds: readonly string[], from: number, to: number) {
  const assets = new Set(assetIds);
  const byAsset = new Map<string, number>();
  const byCause = new Map<string, number>();
  const byComponent = new Map<string, number>();
  // nested loops, not a flattened copy of the fleet's ~90,000 segments (bench:reports profile); the same order
  for (const assetId of assets) {
    for (const s of d.perAsset.get(assetId)?.segments ?? []) {
      const h = hoursWithin(s, from, to);
      if (h === 0) continue;
      byAsset.set(s.assetId, (byAsset.get(s.assetId) ?? 0) + h);
      byCause.set(s.cause, (byCause.get(s.cause) ?? 0) + h);
      if (s.cause !== 'unplanned') continue;
      for (const c of s.components) byComponent.set(c, (byComponent.get(c) ?? 0) + h / s.components.length);
    }
  }
  return { byAsset, byCause, byComponent };
}

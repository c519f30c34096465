/**
 * Reliability figures of a set of assets over a period (definitions: ./definitions.ts, docs/metrics.md):
 * calendar hours, downtime by cause, operating hours, failures, MTBF (SMRP 3.5.1), MTTR (SMRP 3.5.2),
 * availability. Sums over assets first, ratios last, so a group's MTBF is its operating hours over its
 * failures (not a mean of the assets' MTBFs).
 */
import { CAUSES, type Cause, type Downtime } from './intervals.js';
import { SUM_FIELDS, addBreakdown, assetSums, accFields } from './asset-sums.js';
import { keptBytes } from './kept-bytes.js';
import { asKept, memberSet } from './kept-list.js';
import { PeriodSums, type KeptJson } from './period-sums.js';

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

/**
 * The figures of a set of assets for each of several periods (a group's whole period and its trend
 * buckets): a report by asset at 10,000 assets asks for 140,000 figures. Each asset's sums per period
 * are added in the order of the assets, kept between reports where `d` carries them (period-sums.ts),
 * else computed for this call: the same additions in the same order either way. The sums of the whole
 * of `assetIds` are kept only for a frozen list (kept-list.ts), found again by its identity.
 */
export function figuresPerPeriod(d: Downtime, assetIds: readonly string[], periods: readonly (readonly [number, number])[]): Figures[] {
  // the scope's set kept with its frozen list (PeriodSums finds a kept group's members in the same one)
  const assets = memberSet(assetIds);
  const acc = new Float64Array(periods.length * SUM_FIELDS);
  (d.sums ?? new PeriodSums()).sumInto(d.perAsset, assets, periods, acc, asKept(assetIds));
  return periods.map(([f, t], k) => summarise(assets.size, f, t, accFields(acc, k)));
}

/**
 * figuresPerPeriod() of one asset as JSON (UTF-8), kept with its sums (period-sums.ts) for a report by
 * asset, whose 10,000 groups' JSON.stringify was most of a render: `fields` is the figures' JSON without
 * its braces, `dated` a trend entry `{"from":..,"to":..,<fields>}` after a comma. The same figures as
 * figuresPerPeriod(d, [assetId], periods) (the same sums, added to zeros), written by JSON.stringify.
 */
export function assetFiguresJson(d: Downtime, assetId: string, periods: readonly (readonly [number, number])[], dated: (k: number) => string | undefined): Uint8Array[] {
  const sums = d.sums ?? new PeriodSums();
  const write = (kept: KeptJson, k: number, own: () => Float64Array): Uint8Array => {
    const [f, t] = periods[k]!;
    const head = dated(k);
    if (head === undefined) return (kept.fields ??= keptBytes(JSON.stringify(summarise(1, f, t, accFields(own(), 0))).slice(1, -1)));
    return (kept.dated ??= keptBytes(`,${head}${JSON.stringify(summarise(1, f, t, accFields(own(), 0))).slice(1)}`));
  };
  const kept = sums.jsonAll(d.perAsset, assetId, periods);
  // every period's sums kept: the JSON not made yet (a period that moved) is made from the asset's own
  // sums added to zeros, without summing its other periods again (10,000 assets x 14 periods)
  if (kept !== undefined) return kept.map((j, k) => write(j, k, () => sums.ownSums(assetId, k)!));
  const acc = new Float64Array(periods.length * SUM_FIELDS);
  sums.sumInto(d.perAsset, [assetId], periods, acc);
  return periods.map((_, k) => write(sums.json(assetId, k) ?? {}, k, () => acc.subarray(k * SUM_FIELDS, (k + 1) * SUM_FIELDS)));
}

/**
 * The figures of one asset for one period, without a set or kept sums: a report's model versions ask for two periods of
 * their own per version (thousands). One asset's sums are its own sums added to zeros, as in figuresPerPeriod.
 */
export function assetFigures(d: Downtime, assetId: string, from: number, to: number): Figures {
  const acc = new Float64Array(SUM_FIELDS);
  const own = d.perAsset.get(assetId);
  if (own !== undefined) assetSums(own, from, to, acc, 0);
  return summarise(1, from, to, accFields(acc, 0));
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
  return paretoEntries([...hoursByKey.entries()].filter(([, h]) => h > 0).sort(([ka, a], [kb, b]) => b - a || ka.localeCompare(kb)), total);
}

/** Entries in pareto()'s order with their share of `total` and the running share (kept-pareto.ts keeps the order). */
export function paretoEntries(sorted: readonly (readonly [string, number])[], total: number): ParetoEntry[] {
  let running = 0;
  return sorted.map(([key, hours]) => {
    running += hours;
    return { key, hours: round(hours), share: round(hours / total, 6), cumulativeShare: round(running / total, 6) };
  });
}

/**
 * Downtime hours in [from, to) per asset, per cause and per failed component (unplanned only): each
 * asset's own hours (kept between reports where `d` carries its sums) added in the order of the assets.
 */
export function downtimeBreakdown(d: Downtime, assetIds: readonly string[], from: number, to: number) {
  const of = (d.sums ?? new PeriodSums()).breakdowns(from, to);
  const byAsset = new Map<string, number>();
  const byCause = new Map<string, number>();
  const byComponent = new Map<string, number>();
  for (const assetId of new Set(assetIds)) {
    const own = d.perAsset.get(assetId);
    if (own === undefined) continue;
    const b = of(assetId, own);
    if (b.hours === 0) continue;
    byAsset.set(assetId, b.hours);
    addBreakdown(b, byCause, byComponent);
  }
  return { byAsset, byCause, byComponent };
}

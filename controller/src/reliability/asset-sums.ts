/**
 * One asset's own figures in one period, the parts a report adds up: its sums (downtime hours by cause,
 * repairs, repair hours, maintenance), its downtime breakdown (by cause and failed component) and the
 * first and last time of anything in its downtime. PeriodSums (period-sums.ts) keeps them per period.
 */
import { hoursWithin, type AssetDowntime, type Cause } from './intervals.js';

/** The fields of one asset's sums for one period, in this order. */
export const SUM_FIELDS = 6;
export const UNPLANNED = 0;
export const PLANNED = 1;
export const OTHER = 2;
export const REPAIRS = 3;
export const REPAIR_HOURS = 4;
export const MAINTENANCE = 5;
const CAUSE_FIELD: Record<Cause, number> = { unplanned: UNPLANNED, planned: PLANNED, other: OTHER };

/**
 * One asset's downtime hours in a period: all, by cause and by failed component, in the order first
 * met; pairs, not maps, as a report runs over 10,000 of them.
 */
export interface AssetBreakdown {
  hours: number;
  byCause: [string, number][];
  byComponent: [string, number][];
}

/** One asset's sums in [from, to), written at out[base..base+SUM_FIELDS). */
export function assetSums(own: AssetDowntime, from: number, to: number, out: Float64Array, base: number): void {
  const down = [0, 0, 0];
  let repairs = 0;
  let repairHours = 0;
  let maintenance = 0;
  for (const s of own.segments) if (s.end > from && s.start < to) down[CAUSE_FIELD[s.cause]] = down[CAUSE_FIELD[s.cause]]! + hoursWithin(s, from, to);
  for (const r of own.repairs) {
    if (r.at < from || r.at >= to) continue;
    repairs += 1;
    repairHours += (r.end - r.at) / 3_600_000;
  }
  for (const m of own.maintenance) if (m.at >= from && m.at < to) maintenance += 1;
  out[base + UNPLANNED] = down[UNPLANNED]!;
  out[base + PLANNED] = down[PLANNED]!;
  out[base + OTHER] = down[OTHER]!;
  out[base + REPAIRS] = repairs;
  out[base + REPAIR_HOURS] = repairHours;
  out[base + MAINTENANCE] = maintenance;
}

/** The first and last time of anything in the asset's downtime (segments, repairs, maintenance). */
export function reachOf(own: AssetDowntime): [number, number] {
  let first = Infinity;
  let last = -Infinity;
  for (const s of own.segments) {
    if (s.start < first) first = s.start;
    if (s.end > last) last = s.end;
  }
  for (const r of own.repairs) {
    if (r.at < first) first = r.at;
    if (r.at > last) last = r.at;
  }
  for (const m of own.maintenance) {
    if (m.at < first) first = m.at;
    if (m.at > last) last = m.at;
  }
  return [first, last];
}

/** The asset's downtime hours in [from, to): all, by cause and (unplanned) by failed component. */
export function assetBreakdown(own: AssetDowntime, from: number, to: number): AssetBreakdown {
  let hours = 0;
  const byCause = new Map<string, number>();
  const byComponent = new Map<string, number>();
  for (const s of own.segments) {
    const h = hoursWithin(s, from, to);
    if (h === 0) continue;
    hours += h;
    byCause.set(s.cause, (byCause.get(s.cause) ?? 0) + h);
    if (s.cause !== 'unplanned') continue;
    for (const c of s.components) byComponent.set(c, (byComponent.get(c) ?? 0) + h / s.components.length);
  }
  return { hours, byCause: [...byCause], byComponent: [...byComponent] };
}

/**
 * Adds one asset's hours by cause and by component into a scope's totals, in the asset's order of them:
 * every total by cause or component (figures.ts downtimeBreakdown, kept-pareto.ts) is these additions
 * in the order of the assets, so kept and fresh totals are equal bit for bit.
 */
export function addBreakdown(b: AssetBreakdown, byCause: Map<string, number>, byComponent: Map<string, number>): void {
  for (let i = 0; i < b.byCause.length; i++) {
    const [cause, h] = b.byCause[i]!;
    byCause.set(cause, (byCause.get(cause) ?? 0) + h);
  }
  for (let i = 0; i < b.byComponent.length; i++) {
    const [c, h] = b.byComponent[i]!;
    byComponent.set(c, (byComponent.get(c) ?? 0) + h);
  }
}

/** The fields of `acc` for period k. */
export function accFields(acc: Float64Array, k: number) {
  const at = k * SUM_FIELDS;
  return {
    downtimeHours: { unplanned: acc[at + UNPLANNED]!, planned: acc[at + PLANNED]!, other: acc[at + OTHER]! } as Record<Cause, number>,
    repairs: acc[at + REPAIRS]!,
    repairHours: acc[at + REPAIR_HOURS]!,
    maintenance: acc[at + MAINTENANCE]!,
  };
}

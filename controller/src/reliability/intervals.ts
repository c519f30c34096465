/**
 * Downtime intervals per asset from machine events (FIELD.md, "Maintenance metrics"):
 * - a failure stops the asset from its time until it is back in service: its `end` when known, else
 *   the assumed repair time (`failureHours`); cause unplanned;
 * - a maintenance stops it likewise (`maintenanceHours`); cause planned. A maintenance at the same
 *   time and on the same component as a failure is that failure's corrective repair (Azure PdM records
 *   every failure's replacement as a maintenance row too): it is part of the failure, not planned work;
 * - a downtime interval (entered, or a sensor's downtime-start/end) with its own cause.
 * Overlapping intervals of one asset count once: each stretch of time takes the cause of highest
 * priority covering it (unplanned, then planned, then other).
 */
import type { KeptParetos } from './kept-pareto.js';
import type { PeriodSums } from './period-sums.js';

export type Cause = 'unplanned' | 'planned' | 'other';
export const CAUSES: readonly Cause[] = ['unplanned', 'planned', 'other'];

export interface RepairAssumptions {
  /** Hours a failure without an end stops the asset. */
  failureHours: number;
  /** Hours a maintenance without an end stops the asset. */
  maintenanceHours: number;
}

export interface FailureEvent {
  assetId: string;
  at: number;
  end?: number | undefined;
  component?: string | undefined;
}

export interface MaintenanceEvent {
  assetId: string;
  at: number;
  end?: number | undefined;
  component?: string | undefined;
}

export interface DowntimeEvent {
  assetId: string;
  start: number;
  end: number;
  cause: Cause;
  component?: string | undefined;
}

export interface EventsInput {
  failures: readonly FailureEvent[];
  maintenance: readonly MaintenanceEvent[];
  downtime: readonly DowntimeEvent[];
}

/** A failure as the report counts it, with the stop it caused. */
export interface Repair {
  assetId: string;
  at: number;
  end: number;
  component: string | undefined;
  assumed: boolean;
}

export interface Interval {
  assetId: string;
  start: number;
  end: number;
  cause: Cause;
  component: string | undefined;
}

/** A stretch of one asset's downtime with a single cause (the union of its intervals). */
export interface Segment {
  assetId: string;
  start: number;
  end: number;
  cause: Cause;
  /** Components of the intervals of that cause covering the stretch; its hours are shared among them. */
  components: string[];
}

/** One asset's part of a Downtime, so figures for a group read only its assets' events. */
export interface AssetDowntime {
  repairs: Repair[];
  maintenance: MaintenanceEvent[];
  segments: Segment[];
}

/** One asset's downtime with the counts the report's assumptions state, derived from its events alone. */
export interface AssetDerived extends AssetDowntime {
  assumed: { failures: number; maintenance: number };
  correctiveMaintenance: number;
}

export interface Downtime {
  /** Repairs, maintenance (not a failure's corrective repair) and segments by asset. */
  perAsset: ReadonlyMap<string, AssetDowntime>;
  /** How many failures and maintenance used the assumed durations, and how many maintenance rows were a failure's repair. */
  assumed: { failures: number; maintenance: number };
  correctiveMaintenance: number;
  /** The assets' sums per period kept between reports (period-sums.ts); absent: computed per report. */
  sums?: PeriodSums | undefined;
  /** The scopes' Paretos kept between reports (kept-pareto.ts, with `sums`' breakdowns); absent: made per report. */
  paretos?: KeptParetos | undefined;
}

type AssetEvents = { failures: FailureEvent[]; maintenance: MaintenanceEvent[]; downtime: DowntimeEvent[] };

const HOUR = 3_600_000;
const rank: Record<Cause, number> = { unplanned: 0, planned: 1, other: 2 };
const eventKey = (e: { at: number; component?: string | undefined }): string => JSON.stringify([e.at, e.component ?? '']);

export function downtime(input: EventsInput, assume: RepairAssumptions): Downtime {
  const perAsset = new Map<string, AssetDerived>();
  for (const [assetId, own] of eventsByAsset(input)) perAsset.set(assetId, assetDowntime(own, assume));
  return downtimeOf(perAsset, [...perAsset.keys()]);
}

/**
 * The events of each asset, in their order in the input. Everything downtime() derives is per asset,
 * so the report keeps each asset's part and derives again only the assets whose events changed
 * (downtime-state.ts): the same events in the same order give the same part.
 */
export function eventsByAsset(input: EventsInput): Map<string, AssetEvents> {
  const out = new Map<string, AssetEvents>();
  const of = (assetId: string): AssetEvents => {
    let entry = out.get(assetId);
    if (entry === undefined) out.set(assetId, (entry = { failures: [], maintenance: [], downtime: [] }));
    return entry;
  };
  for (const f of input.failures) of(f.assetId).failures.push(f);
  for (const m of input.maintenance) of(m.assetId).maintenance.push(m);
  for (const d of input.downtime) of(d.assetId).downtime.push(d);
  return out;
}

/** One asset's downtime from its own events (all of one asset). */
export function assetDowntime(input: EventsInput, assume: RepairAssumptions): AssetDerived {
  const repairs: Repair[] = input.failures.map((f) => ({
    assetId: f.assetId, at: f.at, end: f.end ?? f.at + assume.failureHours * HOUR, component: f.component, assumed: f.end === undefined,
  }));
  // a maintenance row with a failure's time and component is that failure's repair, not planned work
  const failureKeys = new Set(input.failures.map(eventKey));
  const maintenance = input.maintenance.filter((m) => !failureKeys.has(eventKey(m)));
  const intervals: Interval[] = [
    ...repairs.map((r) => ({ assetId: r.assetId, start: r.at, end: r.end, cause: 'unplanned' as const, component: r.component })),
    ...maintenance.map((m) => ({
      assetId: m.assetId, start: m.at, end: m.end ?? m.at + assume.maintenanceHours * HOUR, cause: 'planned' as const, component: m.component,
    })),
    ...input.downtime.map((d) => ({ ...d, component: d.component })),
  ].filter((i) => i.end > i.start);
  return {
    repairs,
    maintenance,
    segments: union(intervals),
    assumed: { failures: repairs.filter((r) => r.assumed).length, maintenance: maintenance.filter((m) => m.end === undefined).length },
    correctiveMaintenance: input.maintenance.length - maintenance.length,
  };
}

/** The downtime of a set of assets from their derived parts. */
export function downtimeOf(parts: ReadonlyMap<string, AssetDerived>, assetIds: readonly string[]): Downtime {
  const perAsset = new Map<string, AssetDowntime>();
  const assumed = { failures: 0, maintenance: 0 };
  let correctiveMaintenance = 0;
  for (const assetId of assetIds) {
    const part = parts.get(assetId);
    if (part === undefined || perAsset.has(assetId)) continue;
    perAsset.set(assetId, part);
    assumed.failures += part.assumed.failures;
    assumed.maintenance += part.assumed.maintenance;
    correctiveMaintenance += part.correctiveMaintenance;
  }
  return { perAsset, assumed, correctiveMaintenance };
}

/** The union of each asset's intervals, as stretches with one cause each. */
export function union(intervals: readonly Interval[]): Segment[] {
  const byAsset = new Map<string, Interval[]>();
  for (const i of intervals) {
    const list = byAsset.get(i.assetId);
    if (list === undefined) byAsset.set(i.assetId, [i]);
    else list.push(i);
  }
  const out: Segment[] = [];
  for (const [assetId, list] of byAsset) {
    const bounds = [...new Set(list.flatMap((i) => [i.start, i.end]))].sort((a, b) => a - b);
    for (let k = 0; k + 1 < bounds.length; k++) {
      const start = bounds[k]!;
      const end = bounds[k + 1]!;
      const covering = list.filter((i) => i.start <= start && i.end >= end);
      if (covering.length === 0) continue;
      const cause = covering.map((i) => i.cause).sort((a, b) => rank[a] - rank[b])[0]!;
      const components = covering.filter((i) => i.cause === cause).map((i) => i.component ?? 'unspecified');
      const last = out[out.length - 1];
      // merge with the previous stretch when nothing changes at the boundary
      if (last !== undefined && last.assetId === assetId && last.end === start && last.cause === cause && last.components.join() === components.join()) {
        last.end = end;
      } else out.push({ assetId, start, end, cause, components });
    }
  }
  return out;
}

/** Hours of a segment inside [from, to). */
export function hoursWithin(s: { start: number; end: number }, from: number, to: number): number {
  return Math.max(0, Math.min(s.end, to) - Math.max(s.start, from)) / HOUR;
}

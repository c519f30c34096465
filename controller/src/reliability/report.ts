/**
 * The reliability report (GET /api/v1/reports/reliability, `pdmctl reports reliability`), built from
 * assets, their machine events and the model versions that ran on them. Pure: the data comes in, the
 * report goes out (source.ts reads the database).
 */
import { RELIABILITY_DEFINITIONS, assumptionsStatement } from './definitions.js';
import { assetFigures, downtimeBreakdown, figuresPerPeriod, pareto, type Figures, type ParetoEntry } from './figures.js';
import { downtime, type Downtime, type EventsInput, type RepairAssumptions } from './intervals.js';
import type { Paretos } from './kept-pareto.js';
import { asKept, keptList, perKeptList } from './kept-list.js';
import { PeriodSums } from './period-sums.js';

export type GroupBy = 'asset' | 'assetClass' | 'site';
export type Bucket = 'day' | 'week' | 'month';
/** The groups' order: natural order of their keys, availability ascending (none last), or unplanned downtime hours descending; ties by key. */
export type GroupSort = 'key' | 'availability' | 'downtime';

export interface AssetInfo {
  assetId: string;
  assetClass: string;
  site: string;
}

/** A model version active on an asset, from the first to the last metric window it ran in. */
export interface VersionSpan {
  assetId: string;
  model: string;
  version: string;
  from: number;
  to: number;
}

export interface ReportInput {
  assets: readonly AssetInfo[];
  events: EventsInput;
  versions: readonly VersionSpan[];
  /** Failures caught and missed by a version on an asset, from its quality windows inside [from, to). */
  caughtMissed(assetId: string, model: string, version: string, from: number, to: number): { caught: number; missed: number };
}

export interface ReportOptions {
  from: number;
  to: number;
  groupBy: GroupBy;
  bucket: Bucket;
  assumptions: RepairAssumptions;
  /** omit: leave out the per-asset lists (groups' assetIds, Pareto by asset, model versions). Default include. */
  perAsset?: 'include' | 'omit' | undefined;
  /** Only these groups (in the report's order); the model versions and the Pareto by asset of their assets. */
  page?: { offset: number; limit: number } | undefined;
  /** The groups' order, chosen before the page (default key). */
  sort?: GroupSort | undefined;
}

/** What a report reads besides the downtime: its assets, model versions and their caught and missed failures. */
export type DerivedInput = Omit<ReportInput, 'events'>;

export interface Period {
  from: string;
  to: string;
}

export interface DowntimeSide {
  from: string;
  to: string;
  operatingHours: number;
  unplannedDowntimeHours: number;
  failures: number;
  /** Unplanned downtime hours per 1000 operating hours; null without operating hours. */
  unplannedPer1000h: number | null;
}

export interface VersionImpact {
  assetId: string;
  model: string;
  version: string;
  activeFrom: string;
  activeUntil: string;
  failures: number;
  caught: number;
  missed: number;
  before: DowntimeSide;
  after: DowntimeSide;
}

export interface ReliabilityReport {
  period: Period & { hours: number };
  groupBy: GroupBy;
  definitions: typeof RELIABILITY_DEFINITIONS;
  assumptions: {
    repairHours: { failure: number; maintenance: number };
    /** Failures and maintenance in the data that had no end and took the assumed time. */
    appliedTo: { failures: number; maintenance: number };
    correctiveMaintenance: number;
    statement: string;
  };
  totals: Figures;
  /** With `offset`/`limit` (every JSON body of the API: its route pages by default, http/routes/reports.ts): which groups this body holds, of how many, and where the next page starts. */
  page?: Page;
  /** `assetIds` left out with perAsset=omit. */
  groups: (Figures & { key: string; assetIds?: readonly string[]; trend: (Period & Figures)[] })[];
  trend: { bucket: Bucket; periods: (Period & Figures)[] };
  /** `byAsset` left out with perAsset=omit; in a page, the page's assets (shares of the whole scope). */
  pareto: { byAsset?: readonly ParetoEntry[]; byCause: readonly ParetoEntry[]; byComponent: readonly ParetoEntry[] };
  /** Left out with perAsset=omit; in a page, the page's assets'. */
  modelVersions?: VersionImpact[];
}

/**
 * The groups of one JSON body (issue 9): a report by asset of 10,000 assets unpaged was a 48 MB body
 * that no render met 200 ms with (bench/RESULTS.md), so JSON pages by default, as hawkBit's and
 * Mender's collections do (default 50 and 20, max 500); the CSV is the export of the whole table.
 */
export const REPORT_PAGE = { default: 100, max: 1000 } as const;

export interface Page {
  offset: number;
  limit: number;
  /** Groups in the whole report. */
  groups: number;
  /** The offset of the next page, absent on the last page: an offset, not a cursor as the device list's `next` is (a write between pages can shift groups across a boundary). */
  next?: number;
}

export const iso = (ms: number): string => new Date(ms).toISOString();
const HOUR = 3_600_000;

/**
 * Asset ids and group keys in natural order ("asset-2" before "asset-10"). One collator for every
 * comparison: `localeCompare(b, undefined, { numeric: true })` builds a new one per call, which was
 * seconds of a 10,000-asset report's sorting (bench:reports).
 */
export const naturalOrder: (a: string, b: string) => number = new Intl.Collator(undefined, { numeric: true }).compare;

/** What the CSV carries: the groups table and the totals, without trends, Pareto or model versions. */
export type GroupsTable = Pick<ReliabilityReport, 'period' | 'groupBy' | 'totals' | 'page'> & { groups: (Figures & { key: string; assetIds?: readonly string[] })[] };

/** The groups' and the totals' figures only (the CSV), from the assets' downtime derived already: no versions, quality windows or trend. */
export function groupsTable(assets: readonly AssetInfo[], d: Downtime, o: ReportOptions, groupsOf = members): GroupsTable {
  const { groups, page } = paged(sorted(groupsOf(assets, o.groupBy), d, o), o.page);
  const omit = o.perAsset === 'omit';
  const whole: [number, number][] = [[o.from, o.to]];
  const of = (ids: readonly string[]): Figures => figuresPerPeriod(d, ids, whole)[0]!;
  return {
    period: { from: iso(o.from), to: iso(o.to), hours: (o.to - o.from) / HOUR },
    groupBy: o.groupBy,
    ...(page === undefined ? {} : { page }),
    // the scope's kept id list: its kept sums are found by it (period-sums.ts)
    totals: of(assetIdsOf(assets)),
    groups: groups.map(([key, ids]) => (omit ? { key, ...of(ids) } : { key, assetIds: ids, ...of(ids) })),
  };
}

/** The groups' keys in natural order with their assets. */
export function members(assets: readonly AssetInfo[], groupBy: GroupBy): [string, readonly string[]][] {
  const groups = new Map<string, string[]>();
  for (const a of assets) {
    const key = groupBy === 'asset' ? a.assetId : groupBy === 'assetClass' ? a.assetClass : a.site;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [a.assetId]);
    else list.push(a.assetId);
  }
  return [...groups.entries()].sort(([a], [b]) => naturalOrder(a, b));
}

/**
 * How one render lays a report out: its (page's) groups, in the order asked for (natural order of their keys by default), and its trend
 * buckets. Made once per render and handed to every part that writes the report (the groups' sort is
 * over every asset of a report by asset).
 */
export interface ReportLayout {
  readonly groups: [string, readonly string[]][];
  readonly page: Page | undefined;
  /** The assets of a page's groups, whose per-asset entries the page shows; undefined without a page: all. */
  readonly shown: Set<string> | undefined;
  readonly periods: [number, number][];
  /** The period, then the buckets: one list for every group, so the kept sums resolve its tables once (period-sums.ts). */
  readonly wholeAndTrend: [number, number][];
  /** The buckets as written, once, not once per group (10,000 groups x 13 weeks of the same dates). */
  readonly periodIso: Period[];
}

/** @param groupsOf members(), or a kept copy of its answers (report-json.ts KeptGroups: the same assets give the same groups). */
export function reportLayout(assets: readonly AssetInfo[], d: Downtime, o: Pick<ReportOptions, 'groupBy' | 'page' | 'sort' | 'from' | 'to' | 'bucket'>, groupsOf = members): ReportLayout {
  const { groups, page } = paged(sorted(groupsOf(assets, o.groupBy), d, o), o.page);
  const periods = buckets(o.from, o.to, o.bucket);
  return {
    groups, page, shown: page === undefined ? undefined : new Set(groups.flatMap(([, ids]) => ids)),
    periods, wholeAndTrend: [[o.from, o.to], ...periods], periodIso: periods.map(([f, t]) => ({ from: iso(f), to: iso(t) })),
  };
}

/**
 * The groups (natural order of their keys) in the order `o.sort` asks for, from each group's figures
 * of the whole period: the figures its entry in the report shows (the same sums, kept where `d` keeps
 * them). A stable sort, so ties keep the natural order of their keys: the same page for the same data.
 */
function sorted<G extends readonly [string, readonly string[]]>(groups: G[], d: Downtime, o: Pick<ReportOptions, 'sort' | 'from' | 'to'>): G[] {
  if (o.sort === undefined || o.sort === 'key') return groups;
  const whole: [number, number][] = [[o.from, o.to]];
  const value = groups.map(([, ids]): number | null => {
    const f = figuresPerPeriod(d, ids, whole)[0]!;
    return o.sort === 'availability' ? f.availability : -f.downtimeHours.unplanned;
  });
  // ascending, a group without availability last
  const order = groups.map((_, i) => i).sort((a, b) => {
    const x = value[a]!;
    const y = value[b]!;
    return x === null || y === null ? (x === null ? 1 : 0) - (y === null ? 1 : 0) : x - y;
  });
  return order.map((i) => groups[i]!);
}

/** One group with its figures for the report's period and trend (`wholeAndTrend`: the period, then the buckets written `periodIso`). */
export function groupOf(d: Downtime, key: string, assetIds: readonly string[] | undefined, ids: readonly string[], wholeAndTrend: readonly [number, number][], periodIso: readonly Period[]): ReliabilityReport['groups'][number] {
  const [whole, ...trend] = figuresPerPeriod(d, ids, wholeAndTrend);
  return group(key, assetIds, whole!, trend.map((f, k) => dated(periodIso[k]!, f)));
}

/** The page's groups of all (in the report's order: the same page for the same data). */
function paged<T>(all: T[], page: ReportOptions['page']): { groups: T[]; page?: Page } {
  if (page === undefined) return { groups: all };
  const end = page.offset + page.limit;
  return { groups: all.slice(page.offset, end), page: { offset: page.offset, limit: page.limit, groups: all.length, ...(end < all.length ? { next: end } : {}) } };
}

export function reliabilityReport(input: ReportInput, o: ReportOptions): ReliabilityReport {
  return reportOf(input, { ...downtime(input.events, o.assumptions), sums: new PeriodSums() }, o);
}

/**
 * reliabilityReport() from the assets' downtime derived already (kept between renders: downtime-state.ts).
 * With a kept asset list the report shares what is kept for later renders (the groups' frozen assetIds,
 * the Paretos' arrays): read-only, as its types say; JSON.stringify it, do not change it.
 */
/** `layout`: the report's groups, page and periods, when the caller laid them out already (reportLayout of the same assets and options). */
export function reportOf(input: DerivedInput, d: Downtime, o: ReportOptions, layout = reportLayout(input.assets, d, o)): ReliabilityReport {
  const base = reportWithoutVersions(input.assets, d, o, true, layout);
  if (o.perAsset === 'omit') return base;
  const { shown } = layout;
  // the versions' dates repeat (most began before the period): each written once
  const written = new Map<number, string>();
  const isoOnce = (ms: number): string => written.get(ms) ?? (written.set(ms, iso(ms)), iso(ms));
  return {
    ...base,
    modelVersions: input.versions
      .filter((v) => v.to > o.from && v.from < o.to && (shown === undefined || shown.has(v.assetId)))
      .map((v) => versionImpact(d, v, o, input.caughtMissed(v.assetId, v.model, v.version, Math.max(v.from, o.from), Math.min(v.to, o.to)), isoOnce))
      .sort(versionOrder),
  };
}

/** The order of a report's model versions: by asset (natural order), then by the start of their time in the period. */
export const versionOrder = (a: Pick<VersionImpact, 'assetId' | 'activeFrom'>, b: Pick<VersionImpact, 'assetId' | 'activeFrom'>): number =>
  naturalOrder(a.assetId, b.assetId) || a.activeFrom.localeCompare(b.activeFrom);

/**
 * The report without its `modelVersions` (its last key): with perAsset=omit the whole report; else the
 * body is this report's JSON with the section's entries added (version-impacts.ts keeps them per asset).
 */
export function reportWithoutVersions(assets: readonly AssetInfo[], d: Downtime, o: ReportOptions, withGroups: boolean, layout: ReportLayout): ReliabilityReport {
  const all = assetIdsOf(assets);
  // in a page, the per-asset lists are those of its groups' assets
  const { groups, page, shown, wholeAndTrend, periodIso } = layout;
  const omit = o.perAsset === 'omit';
  const { byAsset, byCause, byComponent } = paretos(all, d, o);
  // the totals and the trend in one pass over the assets, as a group's (each period's sums apart, in asset order)
  const [totals, ...trend] = figuresPerPeriod(d, all, wholeAndTrend);
  return {
    period: { from: iso(o.from), to: iso(o.to), hours: (o.to - o.from) / HOUR },
    groupBy: o.groupBy,
    definitions: RELIABILITY_DEFINITIONS,
    assumptions: {
      repairHours: { failure: o.assumptions.failureHours, maintenance: o.assumptions.maintenanceHours },
      appliedTo: d.assumed,
      correctiveMaintenance: d.correctiveMaintenance,
      statement: assumptionsStatement(o.assumptions),
    },
    totals: totals!,
    ...(page === undefined ? {} : { page }),
    // without: report-json.ts writes them from kept JSON
    groups: withGroups ? groups.map(([key, ids]) => groupOf(d, key, omit ? undefined : ids, ids, wholeAndTrend, periodIso)) : [],
    trend: { bucket: o.bucket, periods: trend.map((f, k) => dated(periodIso[k]!, f)) },
    pareto: {
      ...(omit ? {} : { byAsset: shown === undefined ? byAsset : byAsset.filter((e) => shown.has(e.key)) }),
      byCause,
      byComponent,
    },
  };
}

/**
 * The ids of an asset list; of a kept list (DowntimeState's, kept-list.ts) one frozen array per list, kept
 * by identity: the kept sums of the totals and trend (period-sums.ts) are found by this array.
 */
const keptIds = perKeptList((assets: readonly AssetInfo[]) => keptList(assets.map((a) => a.assetId)));
export function assetIdsOf(assets: readonly AssetInfo[]): readonly string[] {
  return asKept(assets) === undefined ? assets.map((a) => a.assetId) : keptIds(assets);
}

/** The Paretos of the scope's period: kept per kept id list where `d` carries them (kept-pareto.ts), else made anew. */
function paretos(all: readonly string[], d: Downtime, o: ReportOptions): Paretos {
  // a kept scope's ids are a kept list (assetIdsOf)
  const ids = asKept(all);
  if (ids !== undefined && d.paretos !== undefined && d.sums !== undefined) return d.paretos.of(ids, d, o.from, o.to, d.sums.breakdowns(o.from, o.to));
  const b = downtimeBreakdown(d, all, o.from, o.to);
  return { byAsset: pareto(b.byAsset), byCause: pareto(b.byCause), byComponent: pareto(b.byComponent) };
}

// Written out, not spread: object spreads were the largest part of a 10,000-group report after the
// database reads (bench:reports profile). The key order is the JSON's.
function dated(p: Period, f: Figures): Period & Figures {
  return {
    from: p.from, to: p.to, assets: f.assets, calendarHours: f.calendarHours, operatingHours: f.operatingHours, downtimeHours: f.downtimeHours,
    failures: f.failures, mtbfHours: f.mtbfHours, repairs: f.repairs, repairHours: f.repairHours, mttrHours: f.mttrHours,
    availability: f.availability, maintenance: f.maintenance,
  };
}

function group(key: string, assetIds: readonly string[] | undefined, f: Figures, trend: (Period & Figures)[]): ReliabilityReport['groups'][number] {
  return {
    key, ...(assetIds === undefined ? {} : { assetIds }), assets: f.assets, calendarHours: f.calendarHours, operatingHours: f.operatingHours, downtimeHours: f.downtimeHours,
    failures: f.failures, mtbfHours: f.mtbfHours, repairs: f.repairs, repairHours: f.repairHours, mttrHours: f.mttrHours,
    availability: f.availability, maintenance: f.maintenance, trend,
  };
}

/** One model version's entry: its time in the period, failures, caught and missed, downtime before and after it began. */
export function versionImpact(d: Downtime, v: VersionSpan, o: Pick<ReportOptions, 'from' | 'to'>, cm: { caught: number; missed: number }, iso: (ms: number) => string): VersionImpact {
  const activeFrom = Math.max(v.from, o.from);
  const activeUntil = Math.min(v.to, o.to);
  const side = (from: number, to: number): DowntimeSide => {
    const f = assetFigures(d, v.assetId, from, to);
    return {
      from: iso(from), to: iso(to), operatingHours: f.operatingHours, unplannedDowntimeHours: f.downtimeHours.unplanned, failures: f.failures,
      unplannedPer1000h: f.operatingHours > 0 ? Math.round((f.downtimeHours.unplanned / f.operatingHours) * 1000 * 1e4) / 1e4 : null,
    };
  };
  const failures = (d.perAsset.get(v.assetId)?.repairs ?? []).filter((r) => r.at >= activeFrom && r.at < activeUntil).length;
  return {
    assetId: v.assetId, model: v.model, version: v.version, activeFrom: iso(activeFrom), activeUntil: iso(activeUntil),
    failures, caught: cm.caught, missed: cm.missed, before: side(o.from, activeFrom), after: side(activeFrom, activeUntil),
  };
}

/** Calendar buckets (UTC) covering [from, to), clipped to it. */
export function buckets(from: number, to: number, bucket: Bucket): [number, number][] {
  const out: [number, number][] = [];
  let start = floorTo(from, bucket);
  while (start < to) {
    const next = step(start, bucket);
    out.push([Math.max(start, from), Math.min(next, to)]);
    start = next;
  }
  return out;
}

function floorTo(ms: number, bucket: Bucket): number {
  const d = new Date(ms);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (bucket === 'day') return day;
  if (bucket === 'week') return day - ((d.getUTCDay() + 6) % 7) * 24 * HOUR;
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function step(start: number, bucket: Bucket): number {
  if (bucket === 'day') return start + 24 * HOUR;
  if (bucket === 'week') return start + 7 * 24 * HOUR;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}


/**
 * Reads what a reliability report needs from the database: assets (as their devices report them),
 * machine events, the model versions that ran on each asset and their caught and missed failures.
 *
 * Events come from two places, each counted once: what devices recorded from their own data (source
 * sensor or replay; a restarted replay sends the same events again, so they are de-duplicated on
 * asset, type, time and component), and what people or a CMMS entered at the controller (its own
 * table; the copies devices record of those are not read again). An entered event that repeats a
 * device's one replaces it (it may carry an end).
 */
import type { Db } from '../db/database.js';
import type { Cause, DowntimeEvent, EventsInput, FailureEvent, MaintenanceEvent } from './intervals.js';
import { naturalOrder, type AssetInfo, type VersionSpan } from './report.js';

export interface AssetFilter {
  site?: string | undefined;
  assetClass?: string | undefined;
  assetId?: string | undefined;
}

type Row = Record<string, unknown>;
const UNKNOWN = 'unknown';

export class ReliabilitySource {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Assets known from devices (class and site of the device seen last), or only from entered events. */
  assets(filter: AssetFilter = {}): AssetInfo[] {
    const rows = this.#db.prepare(`SELECT asset_id AS assetId, asset_class AS assetClass, site FROM (
        SELECT asset_id, asset_class, site, ROW_NUMBER() OVER (PARTITION BY asset_id ORDER BY COALESCE(last_seen_at, 0) DESC) AS n
        FROM devices WHERE asset_id IS NOT NULL) WHERE n = 1
      UNION SELECT DISTINCT asset_id, '${UNKNOWN}', '${UNKNOWN}' FROM machine_events_entered
        WHERE asset_id NOT IN (SELECT asset_id FROM devices WHERE asset_id IS NOT NULL)`).all() as { assetId: string; assetClass: string | null; site: string | null }[];
    return rows
      .map((r) => ({ assetId: r.assetId, assetClass: r.assetClass ?? UNKNOWN, site: r.site ?? UNKNOWN }))
      .filter(inScope(filter))
      .sort((a, b) => naturalOrder(a.assetId, b.assetId));
  }

  /** The generation of the asset list (migration 010's report_assets): unchanged, assets() gives the same. */
  assetsGeneration(): number {
    return this.#db.prepare('SELECT generation FROM report_assets WHERE id = 1').pluck().get() as number;
  }

  /**
   * The events of these assets (all assets when undefined). Each asset's events come in a total order
   * (every column read), so an asset read alone or with the whole fleet gives the same part
   * (downtime-state.ts keeps parts between reports).
   */
  events(assetIds?: readonly string[]): EventsInput {
    // two texts, not `? IS NULL OR ...`: that would keep SQLite from the asset index for a few assets
    const of = assetIds === undefined ? '' : 'AND asset_id IN (SELECT value FROM json_each(?))';
    const params = assetIds === undefined ? [] : [JSON.stringify(assetIds)];
    // rows as arrays, not objects: a fleet's 90 days are ~90,000 events (bench:reports)
    const device = this.#db.prepare(`SELECT DISTINCT asset_id, type, at, component, cause FROM machine_events
      WHERE source IN ('sensor', 'replay') ${of} ORDER BY asset_id, at, type, component, cause`).raw().all(...params) as DeviceEvent[];
    const entered = this.#db.prepare(`SELECT * FROM machine_events_entered WHERE 1 ${of}
      ORDER BY asset_id, start_at, event_id`).all(...params) as Row[];
    const failures = new Map<string, FailureEvent>();
    const maintenance = new Map<string, MaintenanceEvent>();
    const key = (e: { assetId: string; at: number; component?: string | undefined }) => `${e.assetId}\u0000${e.at}\u0000${e.component ?? ''}`;
    for (const [assetId, type, at, component] of device) {
      if (type !== 'failure' && type !== 'maintenance') continue;
      const e = { assetId, at: Date.parse(at), component: component ?? undefined };
      (type === 'failure' ? failures : maintenance).set(key(e), e);
    }
    const downtime: DowntimeEvent[] = pairDowntime(device);
    for (const r of entered) {
      const start = Date.parse(r.start_at as string);
      const end = r.end_at === null ? undefined : Date.parse(r.end_at as string);
      const e = { assetId: r.asset_id as string, at: start, end, component: (r.component as string | null) ?? undefined };
      if (r.type === 'failure') failures.set(key(e), e);
      else if (r.type === 'maintenance') maintenance.set(key(e), e);
      else downtime.push({ assetId: e.assetId, start, end: end!, cause: r.cause as Cause, component: e.component });
    }
    return { failures: [...failures.values()], maintenance: [...maintenance.values()], downtime };
  }

  /** The number of the latest change of any asset's events (migration 010); 0 before any. */
  lastAssetChange(): number {
    return this.#db.prepare('SELECT COALESCE(MAX(n), 0) FROM report_asset_changes').pluck().get() as number;
  }

  /** The assets whose events changed after change number `n`. */
  assetsChangedAfter(n: number): string[] {
    return this.#db.prepare('SELECT asset_id FROM report_asset_changes WHERE n > ?').pluck().all(n) as string[];
  }

  /** The number of the latest change of any asset's model versions or caught/missed windows (migration 011); 0 before any. */
  lastVersionChange(): number {
    return this.#db.prepare('SELECT COALESCE(MAX(n), 0) FROM report_version_changes').pluck().get() as number;
  }

  /** The highest data generation a span of a model version was written at (migration 011); 0 before any. */
  lastSpanChange(): number {
    return this.#db.prepare(`SELECT COALESCE(MAX(n), 0) FROM asset_metric_spans WHERE model_name <> ''`).pluck().get() as number;
  }

  /**
   * The assets with a span of a model version written at generation `n` or later (migration 011: a span
   * written after a snapshot whose highest number was `n` has at least `n`; 0 is a span no write touched
   * since the migration), and the highest generation of those spans (`n` without any: generations only
   * grow, so lastSpanChange() would not be higher). One scan of one row per asset and version, no index
   * to keep on ingest's path: lastSpanChange() and this, asked one after the other, scanned twice.
   */
  spanChangesSince(n: number): { last: number; assets: string[] } {
    const rows = this.#db.prepare(`SELECT asset_id, MAX(n) FROM asset_metric_spans WHERE model_name <> '' AND n >= MAX(?, 1)
      GROUP BY asset_id`).raw().all(n) as [string, number][];
    let last = n;
    for (const [, m] of rows) if (m > last) last = m;
    return { last, assets: rows.map(([assetId]) => assetId) };
  }

  /** The assets whose spans were deleted or whose caught/missed windows changed after change number `n` (migration 011). */
  versionsChangedAfter(n: number): string[] {
    return this.#db.prepare('SELECT asset_id FROM report_version_changes WHERE n > ?').pluck().all(n) as string[];
  }

  /**
   * Model versions active on each asset (all assets when undefined): first and last metric window of the
   * active model (migration 009's spans). Ordered by asset, first window, then model and version, so an
   * asset read alone or with the fleet gives its versions in the same order (version-impacts.ts keeps them).
   */
  versions(assetIds?: readonly string[]): VersionSpan[] {
    const of = assetIds === undefined ? '' : 'AND asset_id IN (SELECT value FROM json_each(?))';
    const params = assetIds === undefined ? [] : [JSON.stringify(assetIds)];
    const rows = this.#db.prepare(`SELECT asset_id, model_name, model_version, first_start AS f, last_end AS t FROM asset_metric_spans
      WHERE model_name <> '' ${of} ORDER BY asset_id, f, model_name, model_version`).raw().all(...params) as [string, string, string, string, string][];
    return rows.map(([assetId, model, version, f, t]) => ({ assetId, model, version, from: Date.parse(f), to: Date.parse(t) }));
  }

  /**
   * The quality windows (role active) of these assets (all when undefined) that caught or missed any
   * failure: few of all windows, read through migration 009's partial index.
   */
  caughtMissedWindows(assetIds?: readonly string[]): Map<string, CaughtMissedWindow[]> {
    const of = assetIds === undefined ? '' : 'AND asset_id IN (SELECT value FROM json_each(?))';
    const params = assetIds === undefined ? [] : [JSON.stringify(assetIds)];
    const rows = this.#db.prepare(`SELECT asset_id, model_name, model_version, window_start, caught, missed FROM quality_windows
      WHERE role = 'active' AND (caught > 0 OR missed > 0) ${of}`).raw().all(...params) as [string, string, string, string, number, number][];
    const byAsset = new Map<string, CaughtMissedWindow[]>();
    for (const [assetId, model, version, start, caught, missed] of rows) {
      const w: CaughtMissedWindow = [`${model}\u0000${version}`, start, caught, missed];
      const list = byAsset.get(assetId);
      if (list === undefined) byAsset.set(assetId, [w]);
      else list.push(w);
    }
    return byAsset;
  }

  /**
   * Failures caught and missed by a version (role active) on an asset, from quality windows starting in
   * [from, to). One read of the windows that caught or missed any for every version of the report,
   * instead of a query per asset and version.
   */
  caughtMissedOf(assetIds: readonly string[]): (assetId: string, model: string, version: string, from: number, to: number) => { caught: number; missed: number } {
    const byAsset = this.caughtMissedWindows(assetIds);
    return (assetId, model, version, from, to) => caughtMissed(byAsset.get(assetId), model, version, from, to);
  }

  /** Per asset, the first and last time of its events (device events of any source, entered events from start to end), as stored. */
  eventRanges(assetIds?: readonly string[]): Map<string, TextRange> {
    const of = assetIds === undefined ? '' : 'WHERE asset_id IN (SELECT value FROM json_each(?))';
    const params = assetIds === undefined ? [] : [JSON.stringify(assetIds)];
    const rows = this.#db.prepare(`SELECT asset_id, MIN(f), MAX(t) FROM (
        SELECT asset_id, MIN(at) AS f, MAX(at) AS t FROM machine_events ${of} GROUP BY asset_id
        UNION ALL SELECT asset_id, MIN(start_at), MAX(COALESCE(end_at, start_at)) FROM machine_events_entered ${of} GROUP BY asset_id)
      GROUP BY asset_id`).raw().all(...params, ...params) as [string, string, string][];
    return new Map(rows.map(([assetId, from, to]) => [assetId, { from, to }]));
  }

  /** The first window start and the last window end of the assets' metric windows (migration 009's spans), as stored. */
  spanRange(assetIds: readonly string[]): TextRange | undefined {
    const r = this.#db.prepare(`SELECT MIN(first_start) AS f, MAX(last_end) AS t FROM asset_metric_spans
      WHERE asset_id IN (SELECT value FROM json_each(?))`).get(JSON.stringify(assetIds)) as { f: string | null; t: string | null };
    return r.f === null || r.t === null ? undefined : { from: r.f, to: r.t };
  }

  /** The time the data covers (metric windows and events of the assets); undefined without any. */
  dataRange(assetIds: readonly string[]): { from: number; to: number } | undefined {
    const ids = JSON.stringify(assetIds);
    const r = this.#db.prepare(`SELECT MIN(f) AS f, MAX(t) AS t FROM (
        SELECT MIN(first_start) AS f, MAX(last_end) AS t FROM asset_metric_spans WHERE asset_id IN (SELECT value FROM json_each($ids))
        UNION ALL SELECT MIN(at), MAX(at) FROM machine_events WHERE asset_id IN (SELECT value FROM json_each($ids))
        UNION ALL SELECT MIN(start_at), MAX(COALESCE(end_at, start_at)) FROM machine_events_entered WHERE asset_id IN (SELECT value FROM json_each($ids)))`)
      .get({ ids }) as { f: string | null; t: string | null };
    if (r.f === null || r.t === null) return undefined;
    const from = Date.parse(r.f);
    const to = Date.parse(r.t);
    return { from, to: to > from ? to : from + 3_600_000 };
  }
}

/** A first and a last time as stored (ISO 8601 text, compared as text like the SQL MIN and MAX they come from). */
export interface TextRange {
  from: string;
  to: string;
}

/** The time a set of ranges covers, as dataRange() gives it; undefined without any. */
export function coveredRange(ranges: Iterable<TextRange>): { from: number; to: number } | undefined {
  let f: string | undefined;
  let t: string | undefined;
  for (const r of ranges) {
    if (f === undefined || r.from < f) f = r.from;
    if (t === undefined || r.to > t) t = r.to;
  }
  if (f === undefined || t === undefined) return undefined;
  const from = Date.parse(f);
  const to = Date.parse(t);
  return { from, to: to > from ? to : from + 3_600_000 };
}

/** A quality window that caught or missed failures: `${model}\u0000${version}`, window start as stored, caught, missed. */
export type CaughtMissedWindow = [string, string, number, number];

/** Failures caught and missed by a version in the windows of its asset starting in [from, to). */
export function caughtMissed(windows: readonly CaughtMissedWindow[] | undefined, model: string, version: string, from: number, to: number): { caught: number; missed: number } {
  // the window starts as the devices sent them, compared as text like the SQL this replaces
  const f = new Date(from).toISOString();
  const t = new Date(to).toISOString();
  const key = `${model}\u0000${version}`;
  let caught = 0;
  let missed = 0;
  for (const w of windows ?? []) {
    if (w[0] !== key || w[1] < f || w[1] >= t) continue;
    caught += w[2];
    missed += w[3];
  }
  return { caught, missed };
}

/** The filter of assets() as a predicate. */
export function inScope(filter: AssetFilter): (a: AssetInfo) => boolean {
  return (a) => (filter.site === undefined || a.site === filter.site) && (filter.assetClass === undefined || a.assetClass === filter.assetClass)
    && (filter.assetId === undefined || a.assetId === filter.assetId);
}

/** A machine event a device recorded: asset, type, time, component, cause. */
type DeviceEvent = [string, string, string, string | null, string | null];

/** A sensor's downtime-start and the next downtime-end of the same asset make one interval. */
function pairDowntime(rows: readonly DeviceEvent[]): DowntimeEvent[] {
  const out: DowntimeEvent[] = [];
  const open = new Map<string, { start: number; cause: Cause; component: string | undefined }>();
  for (const [assetId, type, atText, component, cause] of rows) {
    if (type === 'downtime-start' && !open.has(assetId)) {
      open.set(assetId, { start: Date.parse(atText), cause: (cause as Cause | null) ?? 'other', component: component ?? undefined });
    } else if (type === 'downtime-end') {
      const s = open.get(assetId);
      if (s === undefined) continue;
      open.delete(assetId);
      const at = Date.parse(atText);
      if (at > s.start) out.push({ assetId, start: s.start, end: at, cause: s.cause, component: s.component });
    }
  }
  return out;
}

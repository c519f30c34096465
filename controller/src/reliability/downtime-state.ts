/**
 * What a reliability report derives from the fleet's events and device list, kept between reports:
 *
 * - every asset's downtime (repairs, maintenance, downtime segments) and the first and last time of its
 *   events, derived again only for the assets whose events changed since (migration 010's
 *   report_asset_changes). At 10,000 assets x 90 days, reading the fleet's ~90,000 events and deriving
 *   every asset again was most of a report's CPU after any new data (bench:reports); one new event now
 *   re-reads one asset's events. Each asset's part depends on its own events only, read in a total
 *   order (source.ts), so a kept part equals the part a report from scratch derives;
 * - every asset's sums per report period (period-sums.ts), dropped with its downtime, and each scope's
 *   Paretos made of them (kept-pareto.ts);
 * - the asset list (class and site of each), read again only when migration 010's report_assets
 *   generation moved (a device's asset, class or site, or an asset known from entered events alone).
 *
 * downtime-state.test.ts compares whole bodies with a report from scratch after random writes.
 */
import type { AssetInfo } from './report.js';
import { assetDowntime, downtimeOf, eventsByAsset, type AssetDerived, type Downtime, type RepairAssumptions } from './intervals.js';
import { dropChanged } from './changed-assets.js';
import { KeptParetos } from './kept-pareto.js';
import { keptList, type KeptList } from './kept-list.js';
import { Lru } from './lru.js';
import { PeriodSums } from './period-sums.js';
import { coveredRange, inScope, type AssetFilter, type ReliabilitySource, type TextRange } from './source.js';

/** Scopes (filters) whose asset lists are kept at once. */
const KEPT_SCOPES = 32;

export interface DowntimeStateOptions {
  /** Groups of at least this many assets have their sums kept per period (PeriodSums; default 64): tests keep every group's. */
  keptGroupSize?: number | undefined;
  /** Scopes whose asset lists are kept at once (default 32; at least 1: the caches after it rely on a kept list being the same array). */
  keptScopes?: number | undefined;
}

export class DowntimeState {
  readonly #assumptions: RepairAssumptions;
  readonly #parts = new Map<string, AssetDerived>();
  readonly #ranges = new Map<string, TextRange>();
  readonly #sums: PeriodSums;
  readonly #keptScopes: number;
  readonly #paretos = new KeptParetos();
  /** The last change number this state has read; undefined: nothing derived yet. */
  #seen: number | undefined;
  /** The asset list, and the lists in scope of the filters asked for (one array per filter while the list stays: report-json.ts keeps what it derives from one). */
  #assets: { generation: number; all: AssetInfo[]; scoped: Lru<string, KeptList<AssetInfo>> } | undefined;

  constructor(assumptions: RepairAssumptions, options: DowntimeStateOptions = {}) {
    this.#assumptions = assumptions;
    this.#sums = new PeriodSums({ keptGroupSize: options.keptGroupSize });
    this.#keptScopes = Math.max(1, options.keptScopes ?? KEPT_SCOPES);
  }

  /**
   * Brings the kept state to the data `source` reads. Call it inside the read transaction of the whole
   * report, before the other methods, so the change numbers and the rows are of one snapshot.
   */
  refresh(source: ReliabilitySource): void {
    const generation = source.assetsGeneration();
    if (this.#assets?.generation !== generation) this.#assets = { generation, all: source.assets(), scoped: new Lru({ max: this.#keptScopes }) };
    const last = source.lastAssetChange();
    if (last === this.#seen) return;
    const changed = this.#seen === undefined ? undefined : source.assetsChangedAfter(this.#seen);
    this.#sums.invalidate(changed);
    dropChanged(changed, this.#parts, this.#ranges);
    // an asset whose events are all gone has no part and no range, as in a report from scratch
    for (const [assetId, own] of eventsByAsset(source.events(changed))) this.#parts.set(assetId, assetDowntime(own, this.#assumptions));
    for (const [assetId, range] of source.eventRanges(changed)) this.#ranges.set(assetId, range);
    this.#seen = last;
  }

  /** The assets in scope, as ReliabilitySource.assets(filter) gives them. */
  assets(filter: AssetFilter): KeptList<AssetInfo> {
    if (this.#assets === undefined) return keptList([]);
    const key = JSON.stringify([filter.site, filter.assetClass, filter.assetId]);
    const { scoped: kept } = this.#assets;
    // least recently used dropped: a dashboard's few scopes stay while others are asked for once
    let scoped = kept.get(key);
    // frozen: what renders derive from a list is kept by its identity (report.ts, report-json.ts, kept-pareto.ts)
    if (scoped === undefined) kept.set(key, (scoped = keptList(this.#assets.all.filter(inScope(filter)))));
    return scoped;
  }

  /** The fleet's asset list: the same array until the list changes (read again when migration 010's generation moved). */
  allAssets(): readonly AssetInfo[] {
    return this.#assets?.all ?? [];
  }

  /** The downtime of these assets. */
  downtime(assetIds: readonly string[]): Downtime {
    return { ...downtimeOf(this.#parts, assetIds), sums: this.#sums, paretos: this.#paretos };
  }

  /** The time the data of these assets covers, as ReliabilitySource.dataRange(ids) gives it. */
  dataRange(source: ReliabilitySource, assetIds: readonly string[]): { from: number; to: number } | undefined {
    const ranges: TextRange[] = [];
    const spans = source.spanRange(assetIds);
    if (spans !== undefined) ranges.push(spans);
    for (const assetId of new Set(assetIds)) {
      const r = this.#ranges.get(assetId);
      if (r !== undefined) ranges.push(r);
    }
    return coveredRange(ranges);
  }
}

/**
 * Every asset's derived downtime (repairs, maintenance, downtime segments), kept between reports and
 * derived again only for the assets whose events changed since (migration 010's report_asset_changes).
 * At 10,000 assets x 90 days, reading the fleet's ~90,000 events and deriving every asset again was most
 * of a report's CPU after any new data (bench:reports); one new event now re-reads one asset's events.
 * Each asset's part depends on its own events only, read in a total order (source.ts), so a kept part
 * equals the part a report from scratch derives (downtime-state.test.ts compares whole bodies).
 */
import { assetDowntime, downtimeOf, eventsByAsset, type AssetDerived, type Downtime, type RepairAssumptions } from './intervals.js';
import type { ReliabilitySource } from './source.js';

export class DowntimeState {
  readonly #assumptions: RepairAssumptions;
  readonly #parts = new Map<string, AssetDerived>();
  /** The last change number this state has read; undefined: nothing derived yet. */
  #seen: number | undefined;

  constructor(assumptions: RepairAssumptions) {
    this.#assumptions = assumptions;
  }

  /**
   * The downtime of these assets as of the data `source` reads. Call it inside the read transaction
   * of the whole report, so the change number and the events are of one snapshot.
   */
  of(source: ReliabilitySource, assetIds: readonly string[]): Downtime {
    const last = source.lastAssetChange();
    if (last !== this.#seen) {
      const changed = this.#seen === undefined ? undefined : source.assetsChangedAfter(this.#seen);
      if (changed === undefined) this.#parts.clear();
      else for (const assetId of changed) this.#parts.delete(assetId);
      // an asset whose events are all gone has no part, as in a report from scratch
      const events = changed === undefined ? source.events() : source.events(changed);
      for (const [assetId, own] of eventsByAsset(events)) this.#parts.set(assetId, assetDowntime(own, this.#assumptions));
      this.#seen = last;
    }
    return downtimeOf(this.#parts, assetIds);
  }
}

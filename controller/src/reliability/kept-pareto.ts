/**
 * A scope's Paretos (downtime hours by asset, by cause, by component) kept between renders per asset
 * list and period (the last few of each list). At 10,000 assets a report's Paretos merged 10,000 kept
 * breakdowns into maps and sorted 10,000 assets by hours on every render (bench:reports profile),
 * though new data changes a few assets.
 *
 * An asset's breakdown is kept by PeriodSums (period-sums.ts) as one object while its downtime and the
 * period (or what of it the asset has anything in) stay, so an asset whose breakdown is the same object
 * has the same hours: only the others move in the kept order (by hours, then key, then asset order, as
 * the stable sort of pareto() in figures.ts gives it). The totals by cause and component and the total
 * hours are added again over every asset in the order of the assets, as downtimeBreakdown() adds them,
 * so a kept Pareto equals one made anew byte for byte (period-sums.test.ts, downtime-state.test.ts).
 */
import { pareto, paretoEntries, type ParetoEntry } from './figures.js';
import type { AssetDowntime, Downtime } from './intervals.js';
import { addBreakdown, type AssetBreakdown } from './asset-sums.js';
import { perKeptList, type KeptList } from './kept-list.js';
import { Lru } from './lru.js';

export interface Paretos {
  byAsset: ParetoEntry[];
  byCause: ParetoEntry[];
  byComponent: ParetoEntry[];
}

interface Kept {
  /** The scope's assets, each once, in their order. */
  ids: string[];
  /** Each asset's breakdown the Paretos were made from (undefined: no downtime part). */
  parts: (AssetBreakdown | undefined)[];
  /** The assets with hours, as indexes into ids, in the Pareto's order. */
  order: number[];
  paretos: Paretos | undefined;
}

/** More changed assets than this: the order is sorted anew (one sort beats many moves). */
const MOVES = 256;

/** Periods whose Paretos are kept per scope: a dashboard alternating a few periods keeps each one's order. */
const KEPT_PERIODS = 4;

export class KeptParetos {
  /** Per scope, by `${from}:${to}`, least recently used first. */
  readonly #kept = perKeptList((_: readonly string[]) => new Lru<string, Kept>({ max: KEPT_PERIODS }));
  readonly #moves: number;

  /** @param moves more changed assets than this: the order is sorted anew (tests lower it to reach that path) */
  constructor(moves = MOVES) {
    this.#moves = moves;
  }

  /**
   * The Paretos of `assetIds` in [from, to), kept for that frozen list (a scope's ids, report.ts
   * assetIdsOf: the same array while DowntimeState gives the scope the same assets in the same order).
   */
  of(assetIds: KeptList<string>, d: Downtime, from: number, to: number, breakdowns: (assetId: string, own: AssetDowntime) => AssetBreakdown): Paretos {
    const k = this.#keptFor(assetIds, `${from}:${to}`);
    const { ids, parts } = k;
    const changed: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const own = d.perAsset.get(ids[i]!);
      const b = own === undefined ? undefined : breakdowns(ids[i]!, own);
      if (b === parts[i]) continue;
      parts[i] = b;
      changed.push(i);
    }
    if (changed.length > 0 || k.paretos === undefined) k.paretos = this.#made(k, changed);
    return k.paretos;
  }

  /**
   * The kept Paretos of the scope's period; a new period starts from a copy of the scope's period used
   * last (a default period that moved: most assets keep their breakdown object, period-sums.ts).
   */
  #keptFor(assetIds: KeptList<string>, key: string): Kept {
    const byPeriod = this.#kept(assetIds);
    let k = byPeriod.get(key);
    if (k !== undefined) return k;
    let last: Kept | undefined;
    for (const kept of byPeriod.values()) last = kept;
    const ids = last?.ids ?? [...new Set(assetIds)];
    k = last === undefined
      ? { ids, parts: new Array<AssetBreakdown | undefined>(ids.length), order: [], paretos: undefined }
      : { ids, parts: [...last.parts], order: [...last.order], paretos: last.paretos };
    byPeriod.set(key, k);
    return k;
  }

  #made(k: Kept, changed: readonly number[]): Paretos {
    const { ids, parts } = k;
    // the totals in the order of the assets, as downtimeBreakdown() and pareto() add them
    let total = 0;
    const byCause = new Map<string, number>();
    const byComponent = new Map<string, number>();
    for (const b of parts) {
      if (b === undefined || b.hours === 0) continue;
      total += b.hours;
      addBreakdown(b, byCause, byComponent);
    }
    const hours = (i: number): number => parts[i]?.hours ?? 0;
    // pareto()'s order: hours, largest first, then key; its sort is stable, so ties keep the assets' order
    const before = (i: number, j: number): number => hours(j) - hours(i) || ids[i]!.localeCompare(ids[j]!) || i - j;
    if (k.paretos === undefined || changed.length > this.#moves) {
      k.order = [];
      for (let i = 0; i < ids.length; i++) if (hours(i) > 0) k.order.push(i);
      k.order.sort(before);
    } else {
      const moved = new Set(changed);
      k.order = k.order.filter((i) => !moved.has(i));
      for (const i of changed) if (hours(i) > 0) k.order.splice(insertionPoint(k.order, i, before), 0, i);
    }
    return {
      byAsset: paretoEntries(k.order.map((i) => [ids[i]!, hours(i)]), total),
      byCause: pareto(byCause),
      byComponent: pareto(byComponent),
    };
  }
}

/** The first position in `order` (sorted by `before`) whose entry comes after i. */
function insertionPoint(order: readonly number[], i: number, before: (a: number, b: number) => number): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(order[mid]!, i) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

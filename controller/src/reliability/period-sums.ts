/**
 * Each asset's sums for a period (downtime hours by cause, repairs, repair hours, maintenance), kept
 * between reports. A report at 10,000 assets sums every asset's events for its period and each trend
 * bucket (totals, trend and groups): after the downtime itself was kept (downtime-state.ts) that was
 * the largest part of a render after new data (bench:reports profile), though new data changes one
 * asset. A group's figures add its assets' sums in the order of its assets, with or without kept
 * sums, so a report from kept sums equals one from scratch byte for byte; the owner drops the sums
 * of every asset whose downtime it derives again (invalidate).
 *
 * Sums of large groups (frozen id lists, kept-list.ts) are kept per period table too, and found stale
 * through the table's log:
 * - invalidate() marks an asset whose sums the table holds as not valid and queues it in `pending`; an
 *   asset without sums there (none yet, or not valid) goes to the `log` at once, as it may have gained
 *   downtime that a kept group sum skipped;
 * - the table's next use (#resolve) computes each pending asset again and logs it only where its sums
 *   changed (one event changes its asset in the period and one trend bucket, not in the other buckets);
 * - a kept group sum records `at`, the log's length when it was added; it is used while no logged entry
 *   from `at` on is one of the group's assets (then `at` moves to the end), else added again;
 * - past `keptLog` entries the log starts again, and with it every kept group sum of the table.
 */
import { MAINTENANCE, OTHER, PLANNED, REPAIRS, REPAIR_HOURS, SUM_FIELDS, UNPLANNED, assetBreakdown, assetSums, reachOf, type AssetBreakdown } from './asset-sums.js';
import type { AssetDowntime } from './intervals.js';
import { memberSet, type KeptList } from './kept-list.js';
import { Lru } from './lru.js';

/** Periods whose sums are kept (a report asks for 1 + its trend buckets, e.g. 1 + 90 days; ~0.5 MB each at 10,000 assets). */
const KEPT_PERIODS = 128;

/** Groups of at least this many assets have their sums kept per period (smaller ones cost less to add again than to keep). */
const KEPT_GROUP_SIZE = 64;

/** Invalidated assets a table lists before it drops its kept group sums and starts again. */
const KEPT_LOG = 4096;

/** Periods whose breakdowns are kept (one per report: its whole period). */
const KEPT_BREAKDOWNS = 8;

interface PeriodTable {
  sums: Float64Array;
  /** 1 where the asset's sums are computed from its current downtime. */
  valid: Uint8Array;
  /** The asset's figures as JSON (report by asset, report-json.ts), made from its sums; dropped when they are computed again. */
  json: (KeptJson | undefined)[];
  /** The assets invalidated since the table was made, in order: a kept group sum made at log length n is stale when one after n is its member. */
  log: string[];
  /**
   * Assets invalidated while their sums here were kept (still in `sums`): computed again at the table's
   * next use and logged only if they changed (an entered event changes its asset's sums in the period
   * and one trend bucket, not in the other buckets, whose kept group sums then stay).
   */
  pending: string[];
  /** The sums of large groups (by their id list), with the log length when they were added. */
  groups: WeakMap<readonly string[], { at: number; sums: Float64Array }>;
}

/** One asset's figures in a period as JSON text (UTF-8): its fields alone, and as a trend entry. */
export interface KeptJson {
  fields?: Uint8Array;
  dated?: Uint8Array;
}

export interface PeriodSumsOptions {
  /** How many periods' sums to keep (least recently used dropped first); default 128. */
  keptPeriods?: number | undefined;
  /** Groups of at least this many assets have their sums kept per period; default 64. */
  keptGroupSize?: number | undefined;
  /** Invalidated assets a table logs before it drops its kept group sums and starts again; default 4096. */
  keptLog?: number | undefined;
}

export class PeriodSums {
  readonly #slots = new Map<string, number>();
  /** By `${from}:${to}`, least recently used first. */
  readonly #tables: Lru<string, PeriodTable>;
  /**
   * The tables of the periods asked for last: a report by asset asks 10,000 times for the same list
   * (one group each). Dropped with any invalidation, so it never holds a table that missed one.
   */
  #last: { periods: readonly (readonly [number, number])[]; tables: PeriodTable[] } | undefined;
  /** Each asset's downtime breakdown by `${from}:${to}`, least recently used first. */
  readonly #breakdowns = new Lru<string, Map<string, AssetBreakdown>>({ max: KEPT_BREAKDOWNS });
  /** Each asset downtime's first and last time (segment starts and ends, repairs and maintenance). */
  readonly #reach = new WeakMap<AssetDowntime, [number, number]>();

  readonly #keptGroupSize: number;
  readonly #keptLog: number;
  /** Tables made (each scans every asset slot for sums to adopt): tests count them. */
  #tablesMade = 0;

  /** Production uses the defaults; tests lower them to reach the kept group sums and the log's reset with a few assets. */
  constructor({ keptPeriods = KEPT_PERIODS, keptGroupSize = KEPT_GROUP_SIZE, keptLog = KEPT_LOG }: PeriodSumsOptions = {}) {
    this.#tables = new Lru({ max: keptPeriods });
    this.#keptGroupSize = keptGroupSize;
    this.#keptLog = keptLog;
  }

  /** The number of period tables made since construction (tests: a render must not make them per asset). */
  get tablesMade(): number {
    return this.#tablesMade;
  }

  /** Drops the sums of these assets (their downtime changed); all without ids. */
  invalidate(assetIds?: Iterable<string>): void {
    this.#last = undefined;
    if (assetIds === undefined) {
      this.#tables.clear();
      this.#breakdowns.clear();
      return;
    }
    for (const assetId of assetIds) {
      for (const b of this.#breakdowns.values()) b.delete(assetId);
      const slot = this.#slots.get(assetId);
      // an asset without sums yet may have gained downtime: a kept group sum that skipped it is stale too
      for (const t of this.#tables.values()) {
        // kept sums are compared with the new ones when computed again (#resolve): only a change is logged
        if (slot !== undefined && slot < t.valid.length && t.valid[slot] === 1) {
          t.valid[slot] = 0;
          t.pending.push(assetId);
        } else t.log.push(assetId);
      }
    }
    for (const t of this.#tables.values()) {
      if (t.log.length <= this.#keptLog) continue;
      // a kept group's `at` counts entries of the log it was added under: both go together
      t.log = [];
      t.groups = new WeakMap();
    }
  }

  /**
   * Writes into `acc` (SUM_FIELDS per period) the sums of the assets' sums for each period, assets in
   * the order given, computing and keeping those not kept yet. `group`: the frozen list `assetIds` come
   * from, under which a large group's sums are kept per period.
   */
  sumInto(perAsset: ReadonlyMap<string, AssetDowntime>, assetIds: Iterable<string>, periods: readonly (readonly [number, number])[], acc: Float64Array, group?: KeptList<string>): void {
    const tables = this.#tablesOf(periods, perAsset);
    const keep = group !== undefined && group.length >= this.#keptGroupSize ? group : undefined;
    let owns: AssetDowntime[] | undefined;
    const slots: number[] = [];
    // period by period, each a run over one table; every period's sums still add the assets in order
    for (let k = 0; k < periods.length; k++) {
      if (keep !== undefined && this.#keptGroup(keep, tables[k]!, acc, k)) continue;
      if (owns === undefined) {
        owns = [];
        for (const assetId of assetIds) {
          const own = perAsset.get(assetId);
          if (own === undefined) continue;
          owns.push(own);
          slots.push(this.#slot(assetId));
        }
      }
      const { sums, valid } = this.#room(tables[k]!, this.#slots.size - 1);
      const [from, to] = periods[k]!;
      let unplanned = 0, planned = 0, other = 0, repairs = 0, repairHours = 0, maintenance = 0;
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!;
        const base = slot * SUM_FIELDS;
        if (valid[slot] === 0) {
          assetSums(owns[i]!, from, to, sums, base);
          valid[slot] = 1;
          tables[k]!.json[slot] = undefined;
        }
        unplanned += sums[base + UNPLANNED]!;
        planned += sums[base + PLANNED]!;
        other += sums[base + OTHER]!;
        repairs += sums[base + REPAIRS]!;
        repairHours += sums[base + REPAIR_HOURS]!;
        maintenance += sums[base + MAINTENANCE]!;
      }
      acc.set([unplanned, planned, other, repairs, repairHours, maintenance], k * SUM_FIELDS);
      if (keep !== undefined) tables[k]!.groups.set(keep, { at: tables[k]!.log.length, sums: acc.slice(k * SUM_FIELDS, (k + 1) * SUM_FIELDS) });
    }
  }

  /**
   * Writes the kept sums of `group` in table t into `acc` at period k when none of its assets was logged
   * since (invalidated and changed here): the same additions of the same values as summing it again
   * (a report adds 10,000 assets for its totals and each trend bucket on every render, though new data
   * changes a few assets in one or two of its periods).
   */
  #keptGroup(group: readonly string[], t: PeriodTable, acc: Float64Array, k: number): boolean {
    const kept = t.groups.get(group);
    if (kept === undefined) return false;
    if (kept.at < t.log.length) {
      const members = memberSet(group);
      for (let i = kept.at; i < t.log.length; i++) if (members.has(t.log[i]!)) return false;
      kept.at = t.log.length;
    }
    acc.set(kept.sums, k * SUM_FIELDS);
    return true;
  }

  /** json() of every period of the list, when the asset's sums of all of them are kept (no sums added: a report by asset asks 10,000 times). */
  jsonAll(perAsset: ReadonlyMap<string, AssetDowntime>, assetId: string, periods: readonly (readonly [number, number])[]): KeptJson[] | undefined {
    const tables = this.#tablesOf(periods, perAsset);
    const slot = this.#slots.get(assetId);
    if (slot === undefined) return undefined;
    const out: KeptJson[] = [];
    for (const t of tables) {
      if (t.valid[slot] !== 1) return undefined;
      out.push((t.json[slot] ??= {}));
    }
    return out;
  }

  /**
   * The JSON kept for an asset's figures in period k of the list summed last (sumInto), made from its
   * current sums; undefined for an asset without downtime (no slot) or sums not kept.
   */
  json(assetId: string, k: number): KeptJson | undefined {
    const slot = this.#slots.get(assetId);
    const t = this.#last?.tables[k];
    if (slot === undefined || t === undefined || t.valid[slot] !== 1) return undefined;
    return (t.json[slot] ??= {});
  }

  /**
   * One asset's sums in period k of the list asked for last, as figuresPerPeriod() of the asset alone
   * adds them (its own sums added to zeros); undefined when not kept.
   */
  ownSums(assetId: string, k: number): Float64Array | undefined {
    const slot = this.#slots.get(assetId);
    const t = this.#last?.tables[k];
    if (slot === undefined || t === undefined || t.valid[slot] !== 1) return undefined;
    const own = new Float64Array(SUM_FIELDS);
    for (let i = 0; i < SUM_FIELDS; i++) own[i] = 0 + t.sums[slot * SUM_FIELDS + i]!;
    return own;
  }

  /** Each asset's downtime breakdown in [from, to) (figures.ts downtimeBreakdown), computed where not kept. */
  breakdowns(from: number, to: number): (assetId: string, own: AssetDowntime) => AssetBreakdown {
    const key = `${from}:${to}`;
    let kept = this.#breakdowns.get(key);
    // a new period's breakdowns from a kept period of the same start or end where the asset has nothing in between (#adopted)
    const donor = kept !== undefined ? undefined : nearestDonor(this.#breakdowns, from, to);
    // the donor is chosen before the set, which may drop it (the least recently used): then it is not used below
    if (kept === undefined) this.#breakdowns.set(key, (kept = new Map<string, AssetBreakdown>()));
    return (assetId, own) => {
      let b = kept.get(assetId);
      if (b !== undefined) return b;
      // only while the donor is still kept: invalidate() reaches kept maps only
      if (donor !== undefined && this.#breakdowns.peek(donor.key) === donor.kept && !this.#differs(own, donor.period, [from, to])) b = donor.kept.get(assetId);
      kept.set(assetId, (b ??= assetBreakdown(own, from, to)));
      return b;
    };
  }

  /** The tables of these periods, resolved once for the list asked for last (the same list 10,000 times in a report by asset). */
  #tablesOf(periods: readonly (readonly [number, number])[], perAsset: ReadonlyMap<string, AssetDowntime>): PeriodTable[] {
    if (this.#last?.periods !== periods) this.#last = { periods, tables: periods.map(([from, to]) => this.#table(from, to, perAsset)) };
    return this.#last.tables;
  }

  #slot(assetId: string): number {
    let slot = this.#slots.get(assetId);
    if (slot === undefined) this.#slots.set(assetId, (slot = this.#slots.size));
    return slot;
  }

  #table(from: number, to: number, perAsset: ReadonlyMap<string, AssetDowntime>): PeriodTable {
    const key = `${from}:${to}`;
    let t = this.#tables.get(key);
    if (t === undefined) this.#tables.set(key, (t = this.#adopted(from, to, perAsset)));
    if (t.pending.length > 0) this.#resolve(t, from, to, perAsset);
    return t;
  }

  /** Computes the pending assets' sums again (invalidate): an unchanged one is valid as it was (with its JSON), a changed or gone one is logged. */
  #resolve(t: PeriodTable, from: number, to: number, perAsset: ReadonlyMap<string, AssetDowntime>): void {
    const fresh = new Float64Array(SUM_FIELDS);
    for (const assetId of t.pending) {
      const slot = this.#slots.get(assetId)!;
      const own = perAsset.get(assetId);
      if (t.valid[slot] === 1) continue;
      if (own === undefined) {
        t.log.push(assetId);
        continue;
      }
      assetSums(own, from, to, fresh, 0);
      const base = slot * SUM_FIELDS;
      let same = true;
      for (let i = 0; i < SUM_FIELDS; i++) same &&= fresh[i] === t.sums[base + i];
      if (!same) {
        t.sums.set(fresh, base);
        t.json[slot] = undefined;
        t.log.push(assetId);
      }
      t.valid[slot] = 1;
    }
    t.pending = [];
  }

  /**
   * A new period's table with the sums of a kept period of the same start or end (the default period
   * ends at the latest data, so every new metric window moves it) for every asset that has nothing in
   * the time one period covers and the other not: its sums are the same additions of the same values.
   */
  #adopted(from: number, to: number, perAsset: ReadonlyMap<string, AssetDowntime>): PeriodTable {
    const t: PeriodTable = { sums: new Float64Array(0), valid: new Uint8Array(0), json: [], log: [], pending: [], groups: new WeakMap() };
    this.#tablesMade++;
    const donor = nearestDonor(this.#tables, from, to);
    if (donor === undefined) return t;
    const { sums, valid } = this.#room(t, this.#slots.size - 1);
    const d = donor.kept;
    for (const [assetId, slot] of this.#slots) {
      if (slot >= d.valid.length || d.valid[slot] === 0) continue;
      const own = perAsset.get(assetId);
      if (own === undefined || this.#differs(own, donor.period, [from, to])) continue;
      sums.set(d.sums.subarray(slot * SUM_FIELDS, (slot + 1) * SUM_FIELDS), slot * SUM_FIELDS);
      valid[slot] = 1;
    }
    return t;
  }

  /** True when anything of the asset's downtime lies in the time one period covers and the other not (at their starts or ends). */
  #differs(own: AssetDowntime, a: readonly [number, number], b: readonly [number, number]): boolean {
    let reach = this.#reach.get(own);
    if (reach === undefined) this.#reach.set(own, (reach = reachOf(own)));
    const [first, last] = reach;
    const touches = (lo: number, hi: number): boolean => lo < hi && last >= lo && first < hi;
    return touches(Math.min(a[0], b[0]), Math.max(a[0], b[0])) || touches(Math.min(a[1], b[1]), Math.max(a[1], b[1]));
  }

  /** The table with room for this slot (grown to the assets known so far). */
  #room(t: PeriodTable, slot: number): PeriodTable {
    if (slot < t.valid.length) return t;
    const size = Math.max(slot + 1, this.#slots.size, t.valid.length * 2);
    const sums = new Float64Array(size * SUM_FIELDS);
    sums.set(t.sums);
    const valid = new Uint8Array(size);
    valid.set(t.valid);
    t.sums = sums;
    t.valid = valid;
    return t;
  }
}

/**
 * The kept period (keyed `${from}:${to}`) of the same start or end as [from, to) with the least time
 * between their other ends: the fewest assets have anything in that time, so the most are adopted.
 * The most recently used one is not it: the period's first trend bucket shares its start, and adopting
 * from it left nearly every asset to compute again when a metric window past the end moved the period.
 */
function nearestDonor<T>(kept: Iterable<[string, T]>, from: number, to: number): { key: string; period: [number, number]; kept: T } | undefined {
  let best: { key: string; period: [number, number]; kept: T } | undefined;
  let bestGap = Infinity;
  for (const [key, value] of kept) {
    const [f, t] = key.split(':').map(Number) as [number, number];
    const gap = f === from ? Math.abs(t - to) : t === to ? Math.abs(f - from) : Infinity;
    if (gap < bestGap) [best, bestGap] = [{ key, period: [f, t], kept: value }, gap];
  }
  return best;
}

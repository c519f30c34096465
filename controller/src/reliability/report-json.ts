/**
 * A reliability report's JSON body (UTF-8), assembled from parts: the text JSON.stringify(report) gives,
 * byte for byte (downtime-state.test.ts compares them after random writes), without stringifying the
 * whole report. At 10,000 assets a page of 1000 assets is ~5 MB (every asset: CSV or pdmctl --all); when
 * the report by asset was one 48 MB body, JSON.stringify of its 10,000 groups and the encoding of the
 * text were most of a render after new data (bench:reports profile). Here:
 *
 * - a report by asset writes each group from its asset's figures' JSON, kept with the asset's sums
 *   (figures.ts assetFiguresJson, period-sums.ts): new data makes the JSON of the assets it changed;
 *   each asset's trend buckets but the last are kept as one piece (KeptGroups: its middle);
 * - the model versions' entries come kept per asset (version-impacts.ts);
 * - the rest of the report (totals, trend, Paretos) is stringified as before.
 */
import { assetFiguresJson } from './figures.js';
import type { AssetDowntime, Downtime } from './intervals.js';
import { ByteSlabs } from './kept-bytes.js';
import { asKept, keptList, perKeptList } from './kept-list.js';
import { Lru } from './lru.js';
import { BodyWriter } from './report-body.js';
import { groupOf, members, reportWithoutVersions, type AssetInfo, type GroupBy, type ReportLayout, type ReportOptions } from './report.js';

/** The body of the report of `assets`; `modelVersions`: the section's entries as JSON, undefined with perAsset=omit. */
export function reportJson(assets: readonly AssetInfo[], d: Downtime, o: ReportOptions, layout: ReportLayout, modelVersions: readonly Uint8Array[] | undefined, kept = new KeptGroups()): Uint8Array<ArrayBuffer> {
  const byAsset = o.groupBy === 'asset';
  const { groups, trend, pareto, ...head } = reportWithoutVersions(assets, d, o, !byAsset, layout);
  const body = new BodyWriter();
  // the keys in the report's order: period .. totals (page), groups, trend, pareto, modelVersions
  body.text(`${JSON.stringify(head).slice(0, -1)},"groups":`);
  if (byAsset) groupsByAsset(body, d, o, layout, kept);
  else body.text(JSON.stringify(groups));
  body.text(`,${JSON.stringify({ trend, pareto }).slice(1, -1)}`);
  if (modelVersions !== undefined) {
    body.text(',"modelVersions":[');
    for (const [i, entry] of modelVersions.entries()) {
      if (i > 0) body.text(',');
      body.push(entry);
    }
    body.text(']');
  }
  body.text('}');
  return body.body();
}

/**
 * The groups of a report by asset: the text of report.ts's group() for each, from kept JSON of its
 * figures. A group is its head, its whole period's figures, its trend buckets but the last (kept as
 * one part: LayoutMiddles) and its last bucket: a period that moves (the default one ends at the
 * latest data) changes the whole period and the last bucket of every asset, not the buckets before.
 */
function groupsByAsset(body: BodyWriter, d: Downtime, o: ReportOptions, layout: ReportLayout, kept: KeptGroups): void {
  const omit = o.perAsset === 'omit';
  const { wholeAndTrend, periodIso } = layout;
  const m = wholeAndTrend.length - 1;
  // asked for only with more than one bucket (a middle): a layout without one would push out one kept with them
  const middles = m > 1 ? kept.middles(layoutKey(layout), layout.groups.length) : undefined;
  const made = m > 1 ? madeMiddles(d, layout, middles) : new Map<string, AssetParts>();
  const ends = endsOf(d, layout, middles);
  body.text('[');
  for (const [i, [key, ids]] of layout.groups.entries()) {
    // an asset listed twice (source.ts lists each once) would be a group of two: written as any other report's
    if (ids.length !== 1) {
      body.text(`${i > 0 ? ',' : ''}${JSON.stringify(groupOf(d, key, omit ? undefined : ids, ids, wholeAndTrend, periodIso))}`);
      continue;
    }
    const { whole, middle, last } = made.get(key) ?? ends(key);
    body.text(`${i > 0 ? ',' : ''}{"key":${JSON.stringify(key)},${omit ? '' : `"assetIds":${JSON.stringify(ids)},`}`);
    body.push(whole);
    body.text(',"trend":[');
    for (const piece of middle) body.push(piece);
    if (last !== undefined) body.push(m > 1 ? last : last.subarray(1));
    body.text(']}');
  }
  body.text(']');
}

/** An asset's group in parts: the whole period's fields, its middle (every bucket but the last: one kept piece, else a piece per bucket), the last bucket after its comma. */
interface AssetParts {
  whole: Uint8Array;
  middle: readonly Uint8Array[];
  last?: Uint8Array | undefined;
}

/** The trend entries' heads by index in wholeAndTrend (0, the whole period: none). */
function datedOf(layout: ReportLayout): (k: number) => string | undefined {
  const heads = [undefined, ...layout.periodIso.map((p) => `{"from":"${p.from}","to":"${p.to}",`)];
  return (k) => heads[k];
}

/**
 * The parts of every asset whose middle is not kept, from one pass over all its periods each, asked for
 * before any asset's ends alone: the kept sums resolve the tables of the period list asked for last
 * (period-sums.ts), and past 128 periods (day buckets over 127 days) switching lists per asset made
 * tables anew per asset, each scanning every asset's slot (a cold 1,000 x 200 days: 1.1 s -> 22 s).
 */
function madeMiddles(d: Downtime, layout: ReportLayout, middles: LayoutMiddles | undefined): Map<string, AssetParts> {
  const made = new Map<string, AssetParts>();
  const { wholeAndTrend, groups } = layout;
  const m = wholeAndTrend.length - 1;
  const dated = datedOf(layout);
  for (const [key, ids] of groups) {
    const part = d.perAsset.get(key);
    if (ids.length !== 1 || middles?.kept(key, part) !== undefined) continue;
    // [whole, bucket 1 .. bucket m]: each bucket's JSON starts with a comma; the middle is buckets 1 .. m-1
    const all = assetFiguresJson(d, key, wholeAndTrend, dated);
    const buckets = all.slice(1, -1);
    const one = middles?.keep(key, part, buckets);
    // not kept (a small render's layout, or over the kept bytes' budget): written bucket by bucket, the first without its comma
    const middle = one !== undefined ? [one] : buckets.map((b, i) => (i === 0 ? b.subarray(1) : b));
    made.set(key, { whole: all[0]!, middle, last: all[m]! });
  }
  return made;
}

/** The parts of an asset whose middle is kept (or of a layout of at most one bucket): its whole period and last bucket made, its middle the kept one. */
function endsOf(d: Downtime, layout: ReportLayout, middles: LayoutMiddles | undefined): (key: string) => AssetParts {
  const { wholeAndTrend } = layout;
  const m = wholeAndTrend.length - 1;
  const heads = datedOf(layout);
  const ends = m >= 1 ? [wholeAndTrend[0]!, wholeAndTrend[m]!] : [wholeAndTrend[0]!];
  const dated = (k: number): string | undefined => (k === 0 ? undefined : heads(m));
  return (key) => {
    const [whole, last] = assetFiguresJson(d, key, ends, dated);
    // at most one bucket (m <= 1): no middle; else kept, as madeMiddles made every middle not kept
    const middle = middles?.kept(key, d.perAsset.get(key));
    return { whole: whole!, middle: middle === undefined ? [] : [middle], last };
  };
}
/** The key of a layout's middles: the bounds of its buckets but the last (wholeAndTrend[1 .. m-1]; the whole period, index 0, and the last bucket move with the default period's end). */
export function layoutKey(layout: ReportLayout): string {
  return layout.wholeAndTrend.slice(1, -1).join(';');
}

/** Period layouts whose middles are kept at once: two clients asking for other periods or buckets in turn do not make every asset's middles anew per render. */
const KEPT_LAYOUTS = 2;

/**
 * A render of fewer groups takes no layout slot of its own (it uses a kept one of its layout): a report
 * by asset of one site or asset has its own default period, so other bounds, and would push out the
 * fleet's layout (10,000 middles to make again) to keep a few middles that cost little to make.
 */
const MIDDLES_FROM_GROUPS = 64;

/**
 * The bytes of middles kept across layouts: day buckets over 90 days at 10,000 assets are ~250 MB a
 * layout. Past it a layout is not kept: its middles are made per render (written bucket by bucket).
 * It counts the kept pieces' lengths: a replaced or dropped piece's bytes leave the count at once but
 * stay in memory while their slab holds another kept piece (LayoutMiddles.keepOnly).
 */
const KEPT_BYTES = 128 * 1024 * 1024;

export interface KeptGroupsOptions {
  /** Renders of fewer groups than this do not keep a layout of their own; default 64 (tests lower it). */
  middlesFromGroups?: number | undefined;
  /** The bytes of middles kept across all layouts; default 128 MiB (tests lower it). */
  keptBytes?: number | undefined;
}

/** The kept middles' bytes (their pieces' lengths) against the budget, shared by the layouts of one KeptGroups. */
interface MiddleBytes {
  readonly budget: number;
  used: number;
}

/**
 * What a report by asset keeps between renders: members() per asset list, and each asset's trend
 * buckets but the last in JSON (one piece of the body per asset, not one per bucket)
 * for the last KEPT_LAYOUTS period layouts.
 */
export class KeptGroups {
  /** Middles per period layout (the buckets' bounds), least recently used first; an evicted layout's slabs go with it. */
  // a layout's bytes go back to the shared budget only through onEvict: a delete() or clear() here must release() too
  readonly #layouts = new Lru<string, LayoutMiddles>({ max: KEPT_LAYOUTS, onEvict: (oldest) => oldest.release() });
  /** The asset list the middles were last pruned to (DowntimeState.allAssets: a new array when it changes). */
  #assets: readonly AssetInfo[] | undefined;
  /** members() of an asset list (DowntimeState gives the same array for a scope while its assets stay), by groupBy. */
  readonly #members = perKeptList((_: readonly AssetInfo[]) => new Map<GroupBy, [string, readonly string[]][]>());
  readonly #middlesFromGroups: number;
  readonly #bytes: MiddleBytes;

  constructor({ middlesFromGroups = MIDDLES_FROM_GROUPS, keptBytes = KEPT_BYTES }: KeptGroupsOptions = {}) {
    this.#middlesFromGroups = middlesFromGroups;
    this.#bytes = { budget: keptBytes, used: 0 };
  }

  /**
   * report.ts members(), kept per kept asset list (kept-list.ts; any other list: made anew): a report by
   * asset sorts 10,000 keys in natural order to make it. Each group's ids are frozen, as the kept sums
   * of a group are found by its id list (period-sums.ts).
   */
  members(assets: readonly AssetInfo[], groupBy: GroupBy): [string, readonly string[]][] {
    const list = asKept(assets);
    if (list === undefined) return members(assets, groupBy);
    const byGroup = this.#members(list);
    let groups = byGroup.get(groupBy);
    if (groups === undefined) byGroup.set(groupBy, (groups = members(list, groupBy).map(([key, ids]) => [key, keptList([...ids])])));
    return groups;
  }

  /**
   * The middles of one period layout (`periods`: layoutKey()) for a render of `groups` groups; undefined
   * when the layout is not kept and the render is too small to keep it (its middles made for it alone).
   */
  middles(periods: string, groups: number): LayoutMiddles | undefined {
    let layout = this.#layouts.get(periods);
    if (layout === undefined && groups >= this.#middlesFromGroups) this.#layouts.set(periods, (layout = new LayoutMiddles(this.#bytes)));
    return layout;
  }

  /** Drops the middles of assets no longer in `all` (the fleet's asset list), when the list changed. */
  keepAssets(all: readonly AssetInfo[]): void {
    if (all === this.#assets) return;
    this.#assets = all;
    const ids = new Set(all.map((a) => a.assetId));
    for (const layout of this.#layouts.values()) layout.keepOnly(ids);
  }
}

/**
 * Each asset's trend buckets but the last of one period layout, as one piece: kept while
 * the asset's downtime is the same object (DowntimeState derives a changed asset anew), so that a
 * render finds it without looking up the kept JSON of each bucket (10,000 assets x 12 weeks).
 */
export class LayoutMiddles {
  readonly #kept = new Map<string, { part: AssetDowntime | undefined; json: Uint8Array }>();
  /** Plain kept-only slabs, dropped with the layout; a render copies the pieces into its body. */
  #slabs = new ByteSlabs();
  readonly #bytes: MiddleBytes;
  /** The bytes of this layout's kept pieces, counted in #bytes.used. */
  #mine = 0;
  /** Past the budget once: nothing kept while the layout is listed (it would fill up to the budget and go again per render). */
  #over = false;

  constructor(bytes: MiddleBytes) {
    this.#bytes = bytes;
  }

  /** The kept piece of an asset, while its downtime is the object it was made from. */
  kept(assetId: string, part: AssetDowntime | undefined): Uint8Array | undefined {
    const k = this.#kept.get(assetId);
    return k !== undefined && k.part === part ? k.json : undefined;
  }

  /**
   * Keeps the piece of an asset made from `buckets` (each bucket's JSON after a comma) and gives it;
   * undefined when the layout's pieces would take the kept bytes past the budget: then none of its
   * pieces is kept any more, and its slabs go.
   */
  keep(assetId: string, part: AssetDowntime | undefined, buckets: readonly Uint8Array[]): Uint8Array | undefined {
    if (this.#over) return undefined;
    // the first bucket without its comma
    let size = -1;
    for (const b of buckets) size += b.byteLength;
    const grows = size - (this.#kept.get(assetId)?.json.byteLength ?? 0);
    if (this.#bytes.used + grows > this.#bytes.budget) {
      this.#over = true;
      this.release();
      return undefined;
    }
    const json = this.#slabs.copy(buckets.map((f, i) => (i === 0 ? f.subarray(1) : f)));
    this.#kept.set(assetId, { part, json });
    this.#count(grows);
    return json;
  }

  /** Drops every piece and the slabs, and their bytes from the budget (the layout is evicted, or past the budget). */
  release(): void {
    this.#kept.clear();
    this.#slabs = new ByteSlabs();
    this.#count(-this.#mine);
  }

  #count(bytes: number): void {
    this.#mine += bytes;
    this.#bytes.used += bytes;
  }

  /** The number of assets whose piece is kept (tests). */
  get size(): number {
    return this.#kept.size;
  }

  /**
   * Drops the map entries of assets not in `assetIds`, and their bytes from the budget's count. Their
   * bytes stay in memory until every other piece of their slab goes too (or the layout goes): a slab is
   * one buffer, held while any of its pieces is kept. A piece replaced (asset changed) is the same.
   */
  keepOnly(assetIds: ReadonlySet<string>): void {
    for (const [assetId, { json }] of this.#kept) {
      if (assetIds.has(assetId)) continue;
      this.#kept.delete(assetId);
      this.#count(-json.byteLength);
    }
  }
}

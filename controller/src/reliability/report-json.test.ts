/**
 * What a report by asset keeps between renders (report-json.ts KeptGroups): each asset's trend buckets
 * but the last (its middle) per period layout, the last two layouts at once, made anew only when the
 * asset's downtime changed, and dropped with removed assets; renders of few groups keep no layout, and
 * the kept bytes have a budget. Renders of a report by asset here equal JSON.stringify of the report. downtime-state.test.ts compares whole bodies rendered with
 * them (three layouts of reports by asset in turn, after random writes) against a service deriving
 * everything anew.
 */
import { describe, expect, it } from 'vitest';
import type { AssetDowntime, Downtime } from './intervals.js';
import { PeriodSums } from './period-sums.js';
import { KeptGroups, layoutKey, reportJson, type LayoutMiddles } from './report-json.js';
import { reportLayout, reportOf, type AssetInfo, type ReportOptions } from './report.js';

/** A stand-in for an asset's downtime: KeptGroups compares it by identity only. */
const part = (): AssetDowntime => ({}) as AssetDowntime;
const asset = (assetId: string): AssetInfo => ({ assetId, assetClass: 'c', site: 's' });

/** A maker of one asset's bucket JSON (each bucket starts with a comma), counting its calls. */
function maker(text: string): { made: () => number; figures: () => Uint8Array[] } {
  let made = 0;
  return { made: () => made, figures: () => (made++, [Buffer.from(`,{"a":"${text}"}`), Buffer.from(`,{"b":"${text}"}`)]) };
}

/** An asset's middle in a layout as reportJson gets it (madeMiddles, endsOf): the kept piece, else one made by `figures` and kept (undefined past the budget). */
const middle = (layout: LayoutMiddles, assetId: string, own: AssetDowntime | undefined, figures: () => readonly Uint8Array[]) =>
  layout.kept(assetId, own) ?? layout.keep(assetId, own, figures());
const str = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));
/** Enough groups for a render to keep its layout's middles (64 by default). */
const MANY = 64;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** `n` assets, each with 2 h of unplanned downtime on one of `days` days, and kept sums (as DowntimeState gives them). */
function fleet(n: number, days: number): { assets: AssetInfo[]; d: Downtime } {
  const assets = Array.from({ length: n }, (_, i) => asset(`asset-${i}`));
  const perAsset = new Map<string, AssetDowntime>(assets.map(({ assetId }, i) => {
    const start = T0 + (i % days) * DAY + HOUR;
    return [assetId, { segments: [{ assetId, start, end: start + 2 * HOUR, cause: 'unplanned', components: ['c0'] }], repairs: [], maintenance: [] }];
  }));
  return { assets, d: { perAsset, assumed: { failures: 0, maintenance: 0 }, correctiveMaintenance: 0, sums: new PeriodSums() } };
}

const byAsset = (from: number, to: number, bucket: ReportOptions['bucket']): ReportOptions =>
  ({ from, to, groupBy: 'asset', bucket, assumptions: { failureHours: 8, maintenanceHours: 2 }, perAsset: 'omit' });

/** The report by asset rendered with kept middles and sums, checked against JSON.stringify of the report made anew. */
function render(assets: AssetInfo[], d: Downtime, o: ReportOptions, kept: KeptGroups): string {
  const body = Buffer.from(reportJson(assets, d, o, reportLayout(assets, d, o), undefined, kept)).toString('utf8');
  const fresh = { ...d, sums: undefined };
  expect(body).toBe(JSON.stringify(reportOf({ assets, versions: [], caughtMissed: () => ({ caught: 0, missed: 0 }) }, fresh, o)));
  return body;
}

describe('KeptGroups', () => {
  it('keeps the middles of two period layouts asked for in turn, each made once while the asset is unchanged', () => {
    const kept = new KeptGroups();
    const x = part();
    const week = maker('week');
    const day = maker('day');
    for (let round = 0; round < 3; round++) {
      expect(str(middle(kept.middles('w1;w2', MANY)!, 'x', x, week.figures))).toBe('{"a":"week"},{"b":"week"}');
      expect(str(middle(kept.middles('d1;d2', MANY)!, 'x', x, day.figures))).toBe('{"a":"day"},{"b":"day"}');
    }
    expect([week.made(), day.made()]).toEqual([1, 1]);
    // the asset's downtime derived anew: made again in the layout asked for, the other layout's kept piece untouched
    const changed = part();
    expect(str(middle(kept.middles('w1;w2', MANY)!, 'x', changed, week.figures))).toBe('{"a":"week"},{"b":"week"}');
    expect(week.made()).toBe(2);
    expect(middle(kept.middles('d1;d2', MANY)!, 'x', x, day.figures)).toBe(middle(kept.middles('d1;d2', MANY)!, 'x', x, day.figures));
    expect(day.made()).toBe(1);
  });

  it('drops the least recently used layout past two, and the middles of assets no longer listed', () => {
    const kept = new KeptGroups();
    const [x, y] = [part(), part()];
    for (const layout of ['a', 'b']) for (const [id, p] of [['x', x], ['y', y]] as const) middle(kept.middles(layout, MANY)!, id, p, maker(layout).figures);
    // 'a' used last, then a third layout: 'b' goes
    kept.middles('a', MANY)!;
    kept.middles('c', MANY)!;
    expect(kept.middles('a', MANY)!.size).toBe(2);
    expect(kept.middles('b', MANY)!.size).toBe(0);
    // asset y removed from the fleet's list: its middles go from every kept layout; the same list again changes nothing
    for (const [id, p] of [['x', x], ['y', y]] as const) middle(kept.middles('b', MANY)!, id, p, maker('b').figures);
    const all = [asset('x'), asset('z')];
    kept.keepAssets(all);
    expect([kept.middles('a', MANY)!.size, kept.middles('b', MANY)!.size]).toEqual([1, 1]);
    const again = maker('a');
    middle(kept.middles('a', MANY)!, 'x', x, again.figures);
    expect(again.made()).toBe(0);
    middle(kept.middles('a', MANY)!, 'y', y, again.figures);
    kept.keepAssets(all);
    expect(kept.middles('a', MANY)!.size).toBe(2);
    kept.keepAssets([...all]);
    expect(kept.middles('a', MANY)!.size).toBe(1);
  });

  // 200 day buckets + the whole period: more periods than PeriodSums keeps tables for (128), so a render
  // that switched period lists per asset made tables anew per asset, each scanning every asset's slot
  it('renders a layout of more periods than kept sums tables with each table made once, cold and after a change', () => {
    const { assets, d } = fleet(70, 200);
    const o = byAsset(T0, T0 + 200 * DAY, 'day');
    const kept = new KeptGroups();
    render(assets, d, o, kept);
    const periods = 201;
    expect(d.sums!.tablesMade).toBeLessThanOrEqual(periods);
    // one asset's downtime derived anew: its middle made again, the others kept; the tables are not made per asset
    const changed = new Map(d.perAsset);
    changed.set('asset-3', { segments: [], repairs: [], maintenance: [] });
    d.sums!.invalidate(['asset-3']);
    const made = d.sums!.tablesMade;
    render(assets, { ...d, perAsset: changed }, o, kept);
    expect(d.sums!.tablesMade - made).toBeLessThanOrEqual(2 * periods);
  });

  it('keeps no layout for a render of few groups (a site, one asset, a page past the end): the fleet layout stays', () => {
    const { assets, d } = fleet(70, 30);
    const kept = new KeptGroups();
    const week = byAsset(T0, T0 + 30 * DAY, 'week');
    const day = byAsset(T0, T0 + 30 * DAY, 'day');
    const key = (o: ReportOptions) => layoutKey(reportLayout(assets, d, o));
    for (const o of [week, day]) render(assets, d, o, kept);
    // other bounds each (an asset's or a site's own data range), and a page with no groups
    render(assets.slice(0, 1), d, byAsset(T0 + 3 * DAY, T0 + 20 * DAY, 'day'), kept);
    render(assets.slice(0, 63), d, byAsset(T0 + DAY, T0 + 29 * DAY, 'week'), kept);
    render(assets, d, { ...byAsset(T0 + 2 * DAY, T0 + 25 * DAY, 'day'), page: { offset: 100, limit: 10 } }, kept);
    // a small render of a kept layout (a page of the fleet's) uses it
    render(assets, d, { ...week, page: { offset: 0, limit: 5 } }, kept);
    expect([kept.middles(key(week), 0)?.size, kept.middles(key(day), 0)?.size]).toEqual([70, 70]);
    expect(kept.middles(key(byAsset(T0 + 3 * DAY, T0 + 20 * DAY, 'day')), 0)).toBeUndefined();
    // 64 groups take a slot: the least recently used (week's) goes
    render(assets.slice(0, 64), d, byAsset(T0 + DAY, T0 + 29 * DAY, 'week'), kept);
    expect(kept.middles(key(week), 0)).toBeUndefined();
  });

  it('keeps middles up to a byte budget across layouts: past it a layout keeps none and its middles are made per render', () => {
    // pieces of 9,999 bytes (each over a slab's eighth: a buffer of its own), a budget of three
    const kept = new KeptGroups({ keptBytes: 30_000 });
    const big = (text: string) => maker(text.repeat(4_991));
    const [x, y, z] = [part(), part(), part()];
    const a = big('a');
    for (const [id, p] of [['x', x], ['y', y]] as const) expect(middle(kept.middles('a', MANY)!, id, p, a.figures)!.byteLength).toBe(9_999);
    const b = big('b');
    expect(middle(kept.middles('b', MANY)!, 'x', x, b.figures)).toBeDefined();
    // the fourth piece: layout b keeps none (its first piece goes too), layout a keeps its two
    expect(middle(kept.middles('b', MANY)!, 'y', y, b.figures)).toBeUndefined();
    expect([kept.middles('a', MANY)!.size, kept.middles('b', MANY)!.size]).toEqual([2, 0]);
    expect(middle(kept.middles('b', MANY)!, 'x', x, b.figures)).toBeUndefined();
    expect(b.made()).toBe(3);
    // a replaced piece counts once: asset x of layout a changed twice, still two pieces kept
    for (const p of [part(), part()]) expect(middle(kept.middles('a', MANY)!, 'x', p, a.figures)).toBeDefined();
    // layout a evicted by a third (b used last): its bytes go back to the budget, c keeps three
    kept.middles('b', MANY);
    const c = big('c');
    for (const [id, p] of [['x', x], ['y', y], ['z', z]] as const) expect(middle(kept.middles('c', MANY)!, id, p, c.figures)).toBeDefined();
    expect(kept.middles('c', MANY)!.size).toBe(3);
    // an asset removed from the fleet gives its bytes back: another asset's piece fits
    kept.keepAssets([asset('x'), asset('z')]);
    expect(middle(kept.middles('c', MANY)!, 'w', part(), c.figures)).toBeDefined();
    expect(middle(kept.middles('c', MANY)!, 'v', part(), c.figures)).toBeUndefined();
  });

  it('renders a report by asset whose layout is past the byte budget as one whose middles are kept', () => {
    const { assets, d } = fleet(70, 30);
    const week = byAsset(T0, T0 + 30 * DAY, 'week');
    const over = new KeptGroups({ keptBytes: 1_000 });
    const body = render(assets, d, week, over);
    expect(render(assets, d, week, over)).toBe(body);
    expect(over.middles(layoutKey(reportLayout(assets, d, week)), 0)!.size).toBe(0);
    expect(render(assets, d, week, new KeptGroups())).toBe(body);
  });

  // c9328c1: a render whose layout has no middle (one bucket, or none) asks for no kept layout
  it('keeps no layout for a render of at most one bucket: the kept layouts stay', () => {
    const { assets, d } = fleet(70, 30);
    const kept = new KeptGroups();
    const week = byAsset(T0, T0 + 30 * DAY, 'week');
    const day = byAsset(T0, T0 + 30 * DAY, 'day');
    for (const o of [week, day]) render(assets, d, o, kept);
    // one month bucket, one day bucket, and an empty period (no bucket): other bounds each
    for (const o of [byAsset(T0, T0 + 20 * DAY, 'month'), byAsset(T0 + DAY, T0 + 2 * DAY, 'day'), byAsset(T0 + DAY, T0 + DAY, 'week')]) {
      expect(reportLayout(assets, d, o).wholeAndTrend.length).toBeLessThanOrEqual(2);
      render(assets, d, o, kept);
    }
    const size = (o: ReportOptions) => kept.middles(layoutKey(reportLayout(assets, d, o)), 0)?.size;
    expect([size(week), size(day)]).toEqual([70, 70]);
  });
});

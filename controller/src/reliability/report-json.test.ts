/**
 * What a report by asset keeps between renders (report-json.ts KeptGroups): each asset's middle trend
 * buckets per period layout, the last two layouts at once, made anew only when the asset's downtime
 * changed, and dropped with removed assets. downtime-state.test.ts compares whole bodies rendered with
 * them (three layouts of reports by asset in turn, after random writes) against a service deriving
 * everything anew.
 */
import { describe, expect, it } from 'vitest';
import type { AssetDowntime } from './intervals.js';
import { KeptGroups } from './report-json.js';
import type { AssetInfo } from './report.js';

/** A stand-in for an asset's downtime: KeptGroups compares it by identity only. */
const part = (): AssetDowntime => ({}) as AssetDowntime;
const asset = (assetId: string): AssetInfo => ({ assetId, assetClass: 'c', site: 's' });

/** A maker of one asset's bucket JSON (each bucket starts with a comma), counting its calls. */
function maker(text: string): { made: () => number; figures: () => Uint8Array[] } {
  let made = 0;
  return { made: () => made, figures: () => (made++, [Buffer.from(`,{"a":"${text}"}`), Buffer.from(`,{"b":"${text}"}`)]) };
}

const str = (b: Uint8Array) => Buffer.from(b).toString('utf8');

describe('KeptGroups', () => {
  it('keeps the middles of two period layouts asked for in turn, each made once while the asset is unchanged', () => {
    const kept = new KeptGroups();
    const x = part();
    const week = maker('week');
    const day = maker('day');
    for (let round = 0; round < 3; round++) {
      expect(str(kept.middles('w1;w2').middle('x', x, week.figures))).toBe('{"a":"week"},{"b":"week"}');
      expect(str(kept.middles('d1;d2').middle('x', x, day.figures))).toBe('{"a":"day"},{"b":"day"}');
    }
    expect([week.made(), day.made()]).toEqual([1, 1]);
    // the asset's downtime derived anew: made again in the layout asked for, the other layout's kept piece untouched
    const changed = part();
    expect(str(kept.middles('w1;w2').middle('x', changed, week.figures))).toBe('{"a":"week"},{"b":"week"}');
    expect(week.made()).toBe(2);
    expect(kept.middles('d1;d2').middle('x', x, day.figures)).toBe(kept.middles('d1;d2').middle('x', x, day.figures));
    expect(day.made()).toBe(1);
  });

  it('drops the least recently used layout past two, and the middles of assets no longer listed', () => {
    const kept = new KeptGroups();
    const [x, y] = [part(), part()];
    for (const layout of ['a', 'b']) for (const [id, p] of [['x', x], ['y', y]] as const) kept.middles(layout).middle(id, p, maker(layout).figures);
    // 'a' used last, then a third layout: 'b' goes
    kept.middles('a');
    kept.middles('c');
    expect(kept.middles('a').size).toBe(2);
    expect(kept.middles('b').size).toBe(0);
    // asset y removed from the fleet's list: its middles go from every kept layout; the same list again changes nothing
    for (const [id, p] of [['x', x], ['y', y]] as const) kept.middles('b').middle(id, p, maker('b').figures);
    const all = [asset('x'), asset('z')];
    kept.keepAssets(all);
    expect([kept.middles('a').size, kept.middles('b').size]).toEqual([1, 1]);
    const again = maker('a');
    kept.middles('a').middle('x', x, again.figures);
    expect(again.made()).toBe(0);
    kept.middles('a').middle('y', y, again.figures);
    kept.keepAssets(all);
    expect(kept.middles('a').size).toBe(2);
    kept.keepAssets([...all]);
    expect(kept.middles('a').size).toBe(1);
  });
});

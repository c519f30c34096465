/**
 * Kept period sums (period-sums.ts) against sums computed anew: random assets' downtime, random period
 * lists (more periods than are kept, so tables are dropped and made again), parts replaced and
 * invalidated at random. Every answer of the long-lived PeriodSums (and of the Paretos kept from its
 * breakdowns, kept-pareto.ts) must equal, bit for bit, that of a fresh one. The service-level comparison (whole report bodies) is downtime-state.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { downtimeBreakdown, figuresPerPeriod, pareto } from './figures.js';
import { KeptParetos } from './kept-pareto.js';
import type { AssetDowntime, Cause, Downtime } from './intervals.js';
import { SUM_FIELDS } from './asset-sums.js';
import { PeriodSums } from './period-sums.js';
import { keptList } from './kept-list.js';
import { seededRandom } from '@pdm/models';

const HOUR = 3_600_000;
const CAUSES: Cause[] = ['unplanned', 'planned', 'other'];

/** Integers in [0, n) from a seeded sequence, so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  const next = seededRandom(seed);
  return (n) => Math.floor(next() * n);
}

function part(assetId: string, next: (n: number) => number): AssetDowntime {
  const segments = Array.from({ length: next(5) }, (_, k) => {
    const start = (k * 60 + next(50)) * HOUR + next(3_600) * 1000;
    return { assetId, start, end: start + (1 + next(9)) * 1_234_567, cause: CAUSES[next(3)]!, components: [`c${next(3)}`, `c${next(3)}`].slice(0, 1 + next(2)) };
  });
  const repairs = Array.from({ length: next(3) }, () => {
    const at = next(300) * HOUR;
    return { assetId, at, end: at + next(10) * 987_654, component: `c${next(3)}`, assumed: false };
  });
  const maintenance = Array.from({ length: next(3) }, () => ({ assetId, at: next(300) * HOUR + 17 }));
  return { segments, repairs, maintenance };
}

/**
 * A kept group of two assets, a with random downtime and b without any: `sums` gives the group's raw
 * sums over [0, 300 h) from a PeriodSums, `gainDowntime` gives b its first downtime (2 h unplanned).
 */
function groupOfTwo(seed: number): { sums: (s: PeriodSums) => number[]; gainDowntime: () => void } {
  const parts = new Map<string, AssetDowntime>([['a', part('a', random(seed))]]);
  const group = keptList(['a', 'b']);
  const periods: [number, number][] = [[0, 300 * HOUR]];
  return {
    sums: (s) => {
      const acc = new Float64Array(SUM_FIELDS);
      s.sumInto(parts, group, periods, acc, group);
      return [...acc];
    },
    gainDowntime: () => void parts.set('b', { segments: [{ assetId: 'b', start: HOUR, end: 3 * HOUR, cause: 'unplanned', components: ['c0'] }], repairs: [], maintenance: [] }),
  };
}

describe('PeriodSums', () => {
  it('makes a kept group sum stale when an asset of the group without downtime before gains some', () => {
    const { sums, gainDowntime } = groupOfTwo(5);
    const kept = new PeriodSums({ keptPeriods: 8, keptGroupSize: 1 });
    const before = sums(kept);
    expect(before).toEqual(sums(new PeriodSums()));
    // b had no downtime, so no sums of its own: its first part is still a change of the group's sum
    gainDowntime();
    kept.invalidate(['b']);
    expect(sums(kept)).toEqual(sums(new PeriodSums()));
    expect(sums(kept)[0]).toBe(before[0]! + 2);
  });

  it('drops its kept group sums with its log when the log passes its cap (a kept sum counts entries of the log it was added under)', () => {
    const { sums, gainDowntime } = groupOfTwo(6);
    const kept = new PeriodSums({ keptGroupSize: 1, keptLog: 2 });
    const before = sums(kept);
    // b gains its first downtime: logged (it had no sums), the group's kept sum is stale from here
    gainDowntime();
    kept.invalidate(['b']);
    // two assets of no group take the log past its cap of 2: it starts again, and so must the kept group sums
    kept.invalidate(['x', 'y']);
    expect(sums(kept)).toEqual(sums(new PeriodSums()));
    expect(sums(kept)[0]).toBe(before[0]! + 2);
  });

  it('keeps the sums of a frozen list only: an array of the caller may change between calls', () => {
    const next = random(7);
    const ids = Array.from({ length: 80 }, (_, k) => `a${k}`);
    const parts = new Map<string, AssetDowntime>(ids.map((id) => [id, part(id, next)]));
    const periods: [number, number][] = [[0, 300 * HOUR]];
    const d = (sums: PeriodSums): Downtime => ({ perAsset: parts, assumed: { failures: 0, maintenance: 0 }, correctiveMaintenance: 0, sums });
    const kept = new PeriodSums();
    const mine = [...ids];
    expect(figuresPerPeriod(d(kept), mine, periods)).toEqual(figuresPerPeriod(d(new PeriodSums()), mine, periods));
    // the same array, other assets (still 64 or more; no asset's downtime changed, so nothing was invalidated)
    mine.splice(0, 10);
    expect(figuresPerPeriod(d(kept), mine, periods)).toEqual(figuresPerPeriod(d(new PeriodSums()), mine, periods));
    // a frozen list is kept: its sums found again equal fresh ones
    const frozen = keptList([...ids]);
    for (let i = 0; i < 2; i++) expect(figuresPerPeriod(d(kept), frozen, periods)).toEqual(figuresPerPeriod(d(new PeriodSums()), frozen, periods));
  });

  it('keeps the Paretos of a scope per period: a dashboard alternating two periods finds the Paretos kept for each', () => {
    const next = random(8);
    const ids = keptList(Array.from({ length: 20 }, (_, k) => `a${k}`));
    const parts = new Map<string, AssetDowntime>(ids.map((id) => [id, part(id, next)]));
    const d: Downtime = { perAsset: parts, assumed: { failures: 0, maintenance: 0 }, correctiveMaintenance: 0, sums: new PeriodSums() };
    const paretos = new KeptParetos();
    const of = (from: number, to: number) => paretos.of(ids, d, from, to, d.sums!.breakdowns(from, to));
    const a = of(0, 300 * HOUR);
    const b = of(0, 120 * HOUR);
    expect(b).not.toBe(a);
    expect(of(0, 300 * HOUR)).toBe(a);
    expect(of(0, 120 * HOUR)).toBe(b);
  });

  it('gives the sums and breakdowns of sums computed anew after random changes, with fewer periods kept than asked for', () => {
    const next = random(11);
    const ids = Array.from({ length: 12 }, (_, k) => `a${k}`);
    // a10 and a11 without downtime at first: one that gains some must make the kept group sums that skipped it stale
    const parts = new Map<string, AssetDowntime>(ids.slice(0, 10).map((id) => [id, part(id, next)]));
    // every group's sums kept (no minimum size)
    const kept = new PeriodSums({ keptPeriods: 3, keptGroupSize: 1 });
    const paretos = new KeptParetos();
    // every change sorts the whole order anew (the path past 256 moved assets)
    const sorted = new KeptParetos(0);
    // all assets, some of them (one twice), all in another order
    const scopes = [keptList([...ids]), keptList(['a3', 'a1', 'a7', 'a1', 'a10', 'a4']), keptList([...ids].reverse())];
    const periodLists = [
      [[0, 300 * HOUR]],
      Array.from({ length: 5 }, (_, k) => [k * 60 * HOUR, (k + 1) * 60 * HOUR]),
      [[0, 300 * HOUR], [17 * HOUR, 99 * HOUR], [0, 60 * HOUR]],
    ] as [number, number][][];
    for (let step = 0; step < 400; step++) {
      // a changed asset: a new part (or none), its sums dropped as DowntimeState drops them
      if (next(2) === 0) {
        const id = ids[next(ids.length)]!;
        if (next(5) === 0) parts.delete(id);
        else parts.set(id, part(id, next));
        kept.invalidate([id]);
      }
      const group = ids.filter(() => next(3) > 0);
      // or periods that move: a default period ends at the latest data (kept sums adopted from the period before)
      const end = (200 + next(120)) * HOUR + next(3_600) * 1000;
      const start = next(100) * HOUR;
      const moving: [number, number][] = [[0, end], [end - 60 * HOUR, end], [start, 300 * HOUR]];
      const periods = next(2) === 0 ? moving : periodLists[next(periodLists.length)]!;
      const d = (sums: PeriodSums): Downtime => ({ perAsset: parts, assumed: { failures: 0, maintenance: 0 }, correctiveMaintenance: 0, sums });
      // the raw sums (figures round them), then the figures made of them
      const sums = (s: PeriodSums): number[] => {
        const acc = new Float64Array(periods.length * SUM_FIELDS);
        s.sumInto(parts, group, periods, acc);
        return [...acc];
      };
      expect(sums(kept)).toEqual(sums(new PeriodSums()));
      expect(figuresPerPeriod(d(kept), group, periods)).toEqual(figuresPerPeriod(d(new PeriodSums()), group, periods));
      const [from, to] = periods[next(periods.length)]!;
      expect(downtimeBreakdown(d(kept), group, from, to)).toEqual(downtimeBreakdown(d(new PeriodSums()), group, from, to));
      // a scope's sums and Paretos kept between calls (fixed lists, as DowntimeState keeps one per scope) against ones made anew
      const scope = scopes[next(scopes.length)]!;
      const raw = (s: PeriodSums): number[] => {
        const acc = new Float64Array(periods.length * SUM_FIELDS);
        s.sumInto(parts, new Set(scope), periods, acc, scope);
        return [...acc];
      };
      expect(raw(kept)).toEqual(raw(new PeriodSums()));
      expect(figuresPerPeriod(d(kept), scope, periods)).toEqual(figuresPerPeriod(d(new PeriodSums()), scope, periods));
      const fresh = downtimeBreakdown(d(new PeriodSums()), scope, from, to);
      const made = JSON.stringify({ byAsset: pareto(fresh.byAsset), byCause: pareto(fresh.byCause), byComponent: pareto(fresh.byComponent) });
      expect(JSON.stringify(paretos.of(scope, d(kept), from, to, kept.breakdowns(from, to)))).toBe(made);
      expect(JSON.stringify(sorted.of(scope, d(kept), from, to, kept.breakdowns(from, to)))).toBe(made);
    }
  });
});

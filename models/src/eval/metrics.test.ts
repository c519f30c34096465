import { describe, expect, it } from 'vitest';
import { seededRandom } from '../gbdt/random.js';
import { bootstrapCi, confusion, f1, precision, recall, rmse, thresholdSweep, wilson } from './metrics.js';
import { scoreEvents } from './events.js';

describe('metrics', () => {
  it('Wilson interval matches the textbook value and stays in [0, 1]', () => {
    // 8 of 10: Wilson 95% = [0.4902, 0.9433]
    expect(wilson(8, 10)).toEqual([0.4902, 0.9433]);
    expect(wilson(0, 5)[0]).toBe(0);
    expect(wilson(5, 5)[1]).toBe(1);
    expect(wilson(0, 0)).toEqual([0, 1]);
  });

  it('confusion, precision, recall, F1', () => {
    const c = confusion([true, true, false, false, true], [1, 0, 1, 0, 1]);
    expect(c).toEqual({ tp: 2, fp: 1, fn: 1, tn: 1 });
    expect([precision(c), recall(c), f1(c)]).toEqual([2 / 3, 2 / 3, 2 / 3]);
  });

  it('threshold sweep gives the confusion for alert-when-score >= threshold at every distinct score', () => {
    const sweep = thresholdSweep([0.9, 0.2, 0.9, 0.5], [1, 0, 0, 1]);
    expect(sweep.map((s) => s.threshold)).toEqual([0.9, 0.5, 0.2]);
    expect(sweep[0]!.c).toEqual({ tp: 1, fp: 1, fn: 1, tn: 1 });
    expect(sweep[1]!.c).toEqual({ tp: 2, fp: 1, fn: 0, tn: 1 });
  });

  it('bootstrap interval brackets the statistic and is reproducible', () => {
    const a = Array.from({ length: 50 }, (_, i) => i % 7);
    const b = a.map((v, i) => v + (i % 3) - 1);
    const stat = (idx: Uint32Array): number => rmse(Array.from(idx, (i) => a[i]!), Array.from(idx, (i) => b[i]!));
    const ci = bootstrapCi(50, stat, seededRandom(1), 200);
    expect(ci[0]).toBeLessThanOrEqual(rmse(a, b));
    expect(ci[1]).toBeGreaterThanOrEqual(rmse(a, b));
    expect(bootstrapCi(50, stat, seededRandom(1), 200)).toEqual(ci);
  });
});

describe('scoreEvents', () => {
  const H = 3_600_000;
  const rows = (alerts: number[], asset = 1): { assetId: number; time: number; alert: boolean }[] =>
    Array.from({ length: 100 }, (_, h) => ({ assetId: asset, time: h * H, alert: alerts.includes(h) }));

  it('catches a failure with an alert inside [failure - 24 h, failure) and measures the lead time', () => {
    const score = scoreEvents(rows([60, 61, 62]), [{ assetId: 1, time: 80 * H }], 24 * H, H);
    expect(score).toMatchObject({ events: 1, caught: 1, leadHours: [20], episodes: 1, falseEpisodes: 0 });
  });

  it('does not count an alert at the failure hour or on another asset', () => {
    const atFailure = scoreEvents(rows([80]), [{ assetId: 1, time: 80 * H }], 24 * H, H);
    expect(atFailure).toMatchObject({ caught: 0, episodes: 1, falseEpisodes: 1 });
    const other = scoreEvents(rows([70], 2), [{ assetId: 1, time: 80 * H }], 24 * H, H);
    expect(other.caught).toBe(0);
  });

  it('splits alert episodes at gaps and counts those touching no window as false alarms', () => {
    const score = scoreEvents(rows([10, 11, 13, 50, 51, 52, 70]), [{ assetId: 1, time: 80 * H }], 24 * H, H);
    // window [56, 80): episodes [10,11], [13], [50..52] lie before it, [70] inside it
    expect(score).toMatchObject({ episodes: 4, falseEpisodes: 3, caught: 1 });
  });
});

import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { QualityWindows, type QualityFigures } from './quality-windows.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2015-01-01T00:00:00Z');
const at = (h: number): number => T0 + h * HOUR;
const hours = (ms: number): number => (ms - T0) / HOUR;

/**
 * Three daily windows of hourly predictions, H = 24 h:
 * - passing at h5-6: an episode no failure follows within 24 h (false alarm, W0);
 * - passing at h40-42, a failure at h50 (caught, lead 10 h) and at h70 (no passing prediction in
 *   [46, 70): missed); the h40-42 episode is a true alarm.
 */
function scenario(graceMs = 0) {
  const clock = new FakeClock(at(0));
  const q = new QualityWindows({ windowMs: 24 * HOUR, horizonMs: 24 * HOUR, graceMs });
  const published: { at: number; figures: QualityFigures }[] = [];
  const passing = new Set([5, 6, 40, 41, 42]);
  for (let h = 0; h < 72; h++) {
    if (h === 50 || h === 70) q.failure(at(h));
    q.predicted(clock.now(), passing.has(h));
    for (const figures of q.takeDue(clock.now())) published.push({ at: hours(clock.now()), figures });
    clock.advance(HOUR);
  }
  return { q, published, now: at(71) };
}

describe('quality windows: maturity on event time', () => {
  it('publishes a window only once every prediction in it has matured (window end + H)', () => {
    const { published } = scenario();
    expect(published.map((p) => [p.at, hours(p.figures.windowStart)])).toEqual([[48, 0]]);
    expect(published[0]!.figures).toEqual({
      windowStart: at(0), windowEnd: at(24),
      confusion: { tp: 0, fp: 2, tn: 22, fn: 0 },
      events: { caught: 0, missed: 0, falseAlarms: 1, leadHours: [] },
    });
  });

  it('waits for the label grace on top of the horizon', () => {
    const { published } = scenario(12 * HOUR);
    expect(published.map((p) => [p.at, hours(p.figures.windowStart)])).toEqual([[60, 0]]);
    const q = new QualityWindows({ windowMs: 24 * HOUR, horizonMs: 24 * HOUR, graceMs: 12 * HOUR });
    q.predicted(at(1), false);
    expect(q.takeDue(at(59))).toEqual([]);
    expect(q.takeDue(at(60))).toHaveLength(1);
  });

  it('at the end of input counts what matured: H passed, or a failure occurred', () => {
    const { q, now } = scenario();
    const [w1, w2] = q.closeAll(now);
    // W1 (h24-47): every prediction's horizon ended by h71; h26-47 precede the h50 failure within 24 h
    expect(w1).toEqual({
      windowStart: at(24), windowEnd: at(48),
      confusion: { tp: 3, fp: 0, tn: 2, fn: 19 },
      events: { caught: 0, missed: 0, falseAlarms: 0, leadHours: [] },
    });
    // W2 (h48-71): h48-69 matured by the failures at h50 and h70; h70 and h71 have not matured
    expect(w2).toEqual({
      windowStart: at(48), windowEnd: at(72),
      confusion: { tp: 0, fp: 0, tn: 0, fn: 22 },
      events: { caught: 1, missed: 1, falseAlarms: 0, leadHours: [10] },
    });
    expect(q.idle).toBe(true);
  });

  it('counts a failure that arrives after its window was published as late, and nowhere else', () => {
    const { q, now } = scenario();
    expect(q.failure(at(10))).toBe(false);
    expect(q.lateFailures).toBe(1);
    const w1 = q.closeAll(now)[0]!;
    expect(w1.confusion.tp).toBe(3);
  });

  it('does not judge a failure the model made no prediction before', () => {
    const q = new QualityWindows({ windowMs: 24 * HOUR, horizonMs: 24 * HOUR, graceMs: 0 });
    q.failure(at(3));
    for (let h = 4; h < 10; h++) q.predicted(at(h), false);
    const [w] = q.closeAll(at(40));
    expect(w!.events).toEqual({ caught: 0, missed: 0, falseAlarms: 0, leadHours: [] });
    expect(w!.confusion).toEqual({ tp: 0, fp: 0, tn: 6, fn: 0 });
  });

  it('judges a failure entered ahead of event time only once event time reaches it', () => {
    const q = new QualityWindows({ windowMs: 24 * HOUR, horizonMs: 24 * HOUR, graceMs: 0 });
    q.failure(at(30));
    q.predicted(at(10), true);
    expect(q.takeDue(at(20))).toEqual([]);
    const [w0, w1] = q.closeAll(at(20));
    // the h10 prediction has not matured at h20 (the failure lies ahead): nothing counted in W0
    expect(w0).toBeUndefined();
    expect(w1).toBeUndefined();
  });

  it('splits an alert episode at a failure: the part after it is judged on its own', () => {
    const q = new QualityWindows({ windowMs: 24 * HOUR, horizonMs: 4 * HOUR, graceMs: 0 });
    for (let h = 1; h <= 6; h++) {
      if (h === 3) q.failure(at(2.5));
      q.predicted(at(h), true);
    }
    for (let h = 7; h < 24; h++) q.predicted(at(h), false);
    const [w] = q.takeDue(at(24 + 4));
    // h1-2 caught the h2.5 failure; h3-6 is a second episode with no failure after it: a false alarm
    expect(w!.events).toEqual({ caught: 1, missed: 0, falseAlarms: 1, leadHours: [1.5] });
    expect(w!.confusion).toEqual({ tp: 2, fp: 4, tn: 17, fn: 0 });
  });
});

import { describe, expect, it } from 'vitest';
import { comparisonWindowSchema, type ComparisonWindow } from '@pdm/protocol';
import { histogramEdges, ShadowComparison, type ComparedRow } from './comparison.js';

const hour = 3_600_000;
const row = (h: number, active: number, candidate: number | undefined, o: Partial<ComparedRow> = {}): ComparedRow => ({
  time: Date.UTC(2015, 0, 1, h),
  active,
  activePassed: active >= 0.5,
  activeRaised: false,
  candidate,
  candidatePassed: candidate !== undefined && candidate >= 0.3,
  candidateRaised: false,
  ...o,
});

function comparison() {
  return new ShadowComparison({
    windowMs: 4 * hour,
    assetId: 'm1',
    active: { name: 'm', version: '1' },
    candidate: { name: 'm', version: '2' },
    deploymentId: 'd1',
    spec: { threshold: 0.5, alertWhen: 'above' },
  });
}

/** For windows that must all build: a refusal fails the test. */
const refuseNone = (err: unknown): never => { throw err; };

const records = (drafts: { kind: string; record: unknown }[]): ComparisonWindow[] =>
  drafts.map((d) => comparisonWindowSchema.parse({ ...(d.record as object), deviceId: 'e', seq: 1 }));

describe('ShadowComparison', () => {
  it('summarises agreement, score difference, histograms, alerts and candidate errors per window', () => {
    const c = comparison();
    c.add([
      row(0, 0.1, 0.1),
      row(1, 0.6, 0.4, { activeRaised: true, candidateRaised: true }),
      row(2, 0.2, 0.35),
      row(3, 0.95, undefined),
      row(3, NaN, 0.2),
    ]);
    expect(c.takeClosed(refuseNone)).toEqual([]);
    c.add([row(4, 0.05, Infinity), row(5, 0.5, 0.5)]);
    const [first] = records(c.takeClosed(refuseNone));
    expect(first).toMatchObject({
      windowStart: '2015-01-01T00:00:00.000Z', windowEnd: '2015-01-01T04:00:00.000Z', deploymentId: 'd1',
      n: 3, activeAlerts: 1, candidateAlerts: 1, candidateErrors: 1,
    });
    // decisions: 0.1/0.1 agree (no, no); 0.6/0.4 agree (yes, yes); 0.2/0.35 disagree (no, yes)
    expect(first!.agreement).toBeCloseTo(2 / 3, 10);
    expect(first!.meanAbsScoreDiff).toBeCloseTo((0 + 0.2 + 0.15) / 3, 10);
    expect(first!.activeScores.counts).toEqual([0, 1, 1, 0, 0, 0, 1, 0, 0, 0]);
    expect(first!.candidateScores.counts).toEqual([0, 1, 0, 1, 1, 0, 0, 0, 0, 0]);
    const [second] = records(c.closeAll(refuseNone));
    expect(second).toMatchObject({ windowStart: '2015-01-01T04:00:00.000Z', n: 1, agreement: 1, candidateErrors: 1 });
    expect(c.closeAll(refuseNone)).toEqual([]);
  });

  it('hands a closed window whose record cannot be built to refused, alone, instead of keeping it for every later commit', () => {
    const c = comparison();
    // the last instant a Date holds is 8.64e15 ms: the window ending there has a record, the one after it not
    const last = 8.64e15;
    c.add([row(0, 0.1, 0.1, { time: last - 4 * hour })]);
    c.add([row(0, 0.1, 0.1, { time: last })]);
    expect(c.takeClosed(refuseNone)).toHaveLength(1);
    c.add([row(0, 0.1, 0.1, { time: last + 4 * hour })]);
    const refused: unknown[] = [];
    expect(c.takeClosed((err) => refused.push(err))).toEqual([]);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(RangeError);
    expect(c.takeClosed((err) => refused.push(err))).toEqual([]);
    expect(refused).toHaveLength(1);
  });

  it('uses [0, 1] for probabilities and [0, 2 x threshold] for remaining life, clamping outliers into the end bins', () => {
    expect(histogramEdges({ threshold: 0.05, alertWhen: 'above' })).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(histogramEdges({ threshold: 48, alertWhen: 'below' }).at(-1)).toBe(96);
    const c = comparison();
    c.add([row(0, -3, 7)]);
    const [w] = records(c.closeAll(refuseNone));
    expect(w!.activeScores.counts[0]).toBe(1);
    expect(w!.candidateScores.counts[9]).toBe(1);
  });
});

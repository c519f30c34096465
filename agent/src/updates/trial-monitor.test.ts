import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Scorer } from '../inference/slots.js';
import { noCrash } from './faults.js';
import { TrialMonitor, type TrialVerdict } from './trial.js';

/** The trial's verdicts on run outcomes fed by hand: no model, no timing, deterministic. */
function monitor(config = { inferences: 12, latencyBudgetMs: 8, linkLossSeconds: 300 }) {
  const verdicts: [string, TrialVerdict][] = [];
  const m = new TrialMonitor({
    config,
    link: { connected: true, onUp: () => () => undefined, onDown: () => () => undefined },
    log: pino({ level: 'silent' }),
    crash: noCrash,
    onVerdict: (id, v) => verdicts.push([id, v]),
  });
  m.start();
  return { m, verdicts };
}

const scorer = {} as Scorer;

describe('TrialMonitor', () => {
  it('fails a trial whose p95 run latency is over the budget once it has scored enough rows', () => {
    const { m, verdicts } = monitor();
    m.begin('active', scorer, 'slow');
    // the first run is warm-up and left out of the p95
    m.scored('active', scorer, { rows: 4, nonFinite: 0, latencyMs: 500 });
    m.scored('active', scorer, { rows: 4, nonFinite: 0, latencyMs: 40 });
    expect(verdicts).toEqual([]);
    m.scored('active', scorer, { rows: 4, nonFinite: 0, latencyMs: 45 });
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]![0]).toBe('slow');
    expect(verdicts[0]![1]).toMatchObject({ ok: false, reason: 'latency' });
    expect((verdicts[0]![1] as { detail: string }).detail).toMatch(/p95 run latency [\d.]+ ms over the budget of 8 ms/);
  });

  it('passes a trial within its budget, and ignores runs of other scorers', () => {
    const { m, verdicts } = monitor();
    m.begin('active', scorer, 'quick');
    m.scored('active', {} as Scorer, { rows: 12, nonFinite: 0, latencyMs: 900 });
    expect(verdicts).toEqual([]);
    m.scored('active', scorer, { rows: 6, nonFinite: 0, latencyMs: 30 });
    m.scored('active', scorer, { rows: 6, nonFinite: 0, latencyMs: 2 });
    expect(verdicts).toEqual([['quick', expect.objectContaining({ ok: true })]]);
  });
});

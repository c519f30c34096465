/** Drafts of each record class for the outbox suites and the tests of parts around the outbox. */
import type { Outbox, RecordDraft } from './outbox.js';

const T = '2015-01-01T06:00:00.000Z';

export function eventDraft(i = 0): RecordDraft {
  return {
    kind: 'events',
    record: { time: T, assetId: 'm3', type: 'failure', at: T, component: `comp${i}`, source: 'replay' },
  };
}

/** Commits machine events one by one until the outbox refuses one (full of critical records); their seqs. */
export function fillWithCritical(outbox: Pick<Outbox, 'commit'>): number[] {
  const seqs: number[] = [];
  for (let i = 0; ; i++) {
    try {
      seqs.push(...outbox.commit([eventDraft(i)]).map((e) => e.seq));
    } catch {
      return seqs;
    }
  }
}

export function metricDraft(readings = 10): RecordDraft {
  return {
    kind: 'metrics',
    record: {
      time: T, assetId: 'm3', windowStart: T, windowEnd: T, readings, rejectedReadings: {}, inferences: readings,
      inferenceErrors: 0, alerts: 0,
    },
  };
}

export function predictionDraft(scores: readonly number[] = [0.1, 0.7]): RecordDraft {
  return {
    kind: 'predictions',
    record: {
      time: T,
      assetId: 'm3',
      model: { name: 'tiny', version: '1.0.0' },
      role: 'active',
      threshold: 0.5,
      predictions: scores.map((score) => ({ t: T, score, alert: score >= 0.5 })),
    },
  };
}

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordSchemas, type ModelCard } from '@pdm/protocol';
import { systemClock } from '../clock.js';
import type { ScoringSet } from '../inference/slots.js';
import { Counters } from '../metrics/counters.js';
import { MemoryOutbox } from '../outbox/memory-outbox.js';
import type { RecordDraft } from '../outbox/outbox.js';
import { FakeClock } from '../testing/fake-clock.js';
import { silentLogger } from '../testing/logger.js';
import { qualityConfigSchema } from './config.js';
import { GroundTruth, groundTruthFile } from './ground-truth.js';
import { QualityMonitor } from './monitor.js';
import { binIndex, psi } from './psi.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2015-01-01T00:00:00Z');
const at = (h: number): number => T0 + h * HOUR;
const iso = (ms: number): string => new Date(ms).toISOString();

/** The parts of a card the monitor reads: task, horizon, feature names and reference bins. */
function card(version: string, reference = true): ModelCard {
  return {
    name: 'm', version,
    featureSpec: {
      task: 'failure-within-horizon', horizonHours: 24, threshold: 0.5, alertWhen: 'above',
      features: [{ name: 'f1', signal: 's', agg: 'last', window: 1 }],
    },
    ...(reference ? {
      reference: {
        bins: {
          f1: { edges: [0, 1, 2, 3, 4], shares: [0.25, 0.25, 0.25, 0.25] },
          score: { edges: [0, 0.5, 1], shares: [0.9, 0.1] },
        },
      },
    } : {}),
  } as unknown as ModelCard;
}

function scoringSet(active: string, shadow?: string): ScoringSet {
  const scorer = (v: string) => ({ model: { ref: { name: 'm', version: v }, card: card(v) } });
  return { generation: 0, active: scorer(active), ...(shadow === undefined ? {} : { shadow: scorer(shadow) }) } as unknown as ScoringSet;
}

function batch(version: string, role: 'active' | 'shadow', preds: { h: number; score: number }[]): RecordDraft {
  return {
    kind: 'predictions',
    record: {
      time: iso(at(preds[preds.length - 1]!.h)), assetId: 'a1', model: { name: 'm', version }, role, horizonHours: 24, threshold: 0.5,
      predictions: preds.map((p) => ({ t: iso(at(p.h)), score: p.score, alert: p.score >= 0.5 })),
    },
  };
}

const config = (over: Record<string, unknown> = {}) => qualityConfigSchema.parse({ windowSeconds: 86_400, driftWindowSeconds: 86_400, ...over });

describe('quality monitor', () => {
  it('counts the active model and the shadow candidate apart, per model version', () => {
    const monitor = new QualityMonitor({ config: config(), assetId: 'a1', log: silentLogger });
    const set = scoringSet('1.0.0', '1.1.0');
    monitor.running(set);
    const out: RecordDraft[] = [];
    for (let h = 0; h < 72; h++) {
      if (h === 20) monitor.event({ time: at(20), type: 'failure', source: 'replay', component: 'comp1' });
      monitor.advance(at(h));
      const row = { time: at(h), row: Float32Array.of(h % 4 + 0.5) };
      // active passes at h10-12 (before the h20 failure); the candidate passes only at h30
      monitor.scored(set, [row], [batch('1.0.0', 'active', [{ h, score: h >= 10 && h <= 12 ? 0.9 : 0.1 }]),
        batch('1.1.0', 'shadow', [{ h, score: h === 30 ? 0.9 : 0.1 }])]);
      out.push(...monitor.takeDue());
    }
    out.push(...monitor.closeAll());
    for (const d of out) expect(recordSchemas[d.kind].safeParse({ ...d.record, deviceId: 'dev', seq: 1 }).success).toBe(true);
    const quality = out.filter((d) => d.kind === 'quality').map((d) => d.record as Record<string, unknown>);
    const w0 = (v: string) => quality.find((r) => (r.model as { version: string }).version === v && r.windowStart === iso(at(0)));
    // positives in W0: predictions at h0-19 precede the h20 failure within 24 h
    expect(w0('1.0.0')).toMatchObject({ role: 'active', confusion: { tp: 3, fp: 0, tn: 4, fn: 17 }, events: { caught: 1, missed: 0, falseAlarms: 0, leadHours: [10] } });
    expect(w0('1.1.0')).toMatchObject({ role: 'shadow', confusion: { tp: 0, fp: 0, tn: 4, fn: 20 }, events: { caught: 0, missed: 1, falseAlarms: 0 } });
    const w1Shadow = quality.find((r) => (r.model as { version: string }).version === '1.1.0' && r.windowStart === iso(at(24)));
    // published when event time reached h72: the h30 alert has no failure within 24 h after it
    expect(w1Shadow).toMatchObject({ confusion: { tp: 0, fp: 1, tn: 23, fn: 0 }, events: { caught: 0, missed: 0, falseAlarms: 1 } });
  });

  it('counts a failure once however often it is reported', () => {
    const monitor = new QualityMonitor({ config: config(), assetId: 'a1', log: silentLogger });
    const set = scoringSet('1.0.0');
    monitor.running(set);
    monitor.scored(set, [], [batch('1.0.0', 'active', [{ h: 1, score: 0.1 }, { h: 2, score: 0.1 }])]);
    monitor.failure(at(3), 'event:e1');
    monitor.failure(at(3), 'event:e1');
    monitor.advance(at(3));
    const [q] = monitor.closeAll().filter((d) => d.kind === 'quality');
    expect(q!.record).toMatchObject({ events: { missed: 1 }, confusion: { fn: 2 } });
  });

  it('publishes drift per window: PSI of each feature and of the score against the card reference', () => {
    const monitor = new QualityMonitor({ config: config(), assetId: 'a1', log: silentLogger });
    const set = scoringSet('1.0.0');
    monitor.running(set);
    const drift: RecordDraft[] = [];
    for (let h = 0; h < 48; h++) {
      monitor.advance(at(h));
      // day 1 matches the reference exactly (6 rows per feature bin, 10% of scores high); day 2 sits in one bin
      const value = h < 24 ? (h % 4) + 0.5 : 3.5;
      const score = h < 24 ? (h % 10 === 0 ? 0.9 : 0.1) : 0.9;
      monitor.scored(set, [{ time: at(h), row: Float32Array.of(value) }], [batch('1.0.0', 'active', [{ h, score }])]);
      drift.push(...monitor.takeDue().filter((d) => d.kind === 'drift'));
    }
    drift.push(...monitor.closeAll().filter((d) => d.kind === 'drift'));
    expect(drift.map((d) => d.record)).toEqual([
      expect.objectContaining({ windowStart: iso(at(0)), windowEnd: iso(at(24)), n: 24, features: { f1: 0 }, score: expect.closeTo(psi([0.9, 0.1], [21, 3]), 6) }),
      expect.objectContaining({ windowStart: iso(at(24)), n: 24, features: { f1: expect.closeTo(psi([0.25, 0.25, 0.25, 0.25], [0, 0, 0, 24]), 5) } }),
    ]);
    expect((drift[1]!.record as unknown as { features: { f1: number } }).features.f1).toBeGreaterThan(2);
  });

  it('publishes nothing for a model without a horizon or reference bins, and nothing when disabled', () => {
    const off = new QualityMonitor({ config: config({ enabled: false }), assetId: 'a1', log: silentLogger });
    off.scored(scoringSet('1.0.0'), [{ time: at(1), row: Float32Array.of(1) }], [batch('1.0.0', 'active', [{ h: 1, score: 0.9 }])]);
    off.advance(at(100));
    expect([...off.takeDue(), ...off.closeAll()]).toEqual([]);
  });
});

describe('psi', () => {
  it('bins values outside the reference range into the end bins', () => {
    expect([-5, 0, 0.99, 1, 3.5, 4, 99].map((v) => binIndex([0, 1, 2, 3, 4], v))).toEqual([0, 0, 0, 1, 3, 3, 3]);
  });

  it('is zero for the reference itself and follows the formula otherwise', () => {
    expect(psi([0.5, 0.5], [10, 10])).toBe(0);
    expect(psi([0.5, 0.5], [15, 5])).toBeCloseTo((0.75 - 0.5) * Math.log(0.75 / 0.5) + (0.25 - 0.5) * Math.log(0.25 / 0.5), 12);
  });
});

describe('ground truth from the controller', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdm-ground-truth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function parts() {
    const outbox = new MemoryOutbox({ deviceId: 'dev', clock: systemClock });
    outbox.start();
    const failures: number[] = [];
    const truth = new GroundTruth({
      assetId: 'machine-3', file: groundTruthFile(dir), outbox, failures: { failure: (t) => failures.push(t) },
      counters: new Counters(), clock: new FakeClock(Date.parse('2026-01-01T00:00:00Z')), log: silentLogger,
    });
    truth.start();
    return { outbox, truth, failures };
  }

  const event = { eventId: 'evt-1', assetId: 'machine-3', type: 'failure', at: '2015-02-01T10:00:00.000Z', component: 'comp2', source: 'operator' } as const;

  it('records an event once per eventId, across restarts, as an outbox record', () => {
    const first = parts();
    expect(first.truth.record(event)).toMatchObject({ recorded: true, seq: 1 });
    expect(first.truth.record(event)).toMatchObject({ recorded: false, duplicate: true });
    const records = first.outbox.pending({ afterSeq: 0, limit: 10 }).map((e) => JSON.parse(e.payload.toString()) as unknown);
    expect(records).toEqual([{ deviceId: 'dev', seq: 1, time: '2026-01-01T00:00:00.000Z', assetId: 'machine-3', type: 'failure',
      at: event.at, component: 'comp2', source: 'operator' }]);
    expect(first.failures).toEqual([Date.parse(event.at)]);
    expect(JSON.parse(readFileSync(groundTruthFile(dir), 'utf8'))).toEqual(['evt-1']);
    const restarted = parts();
    expect(restarted.truth.record(event)).toMatchObject({ recorded: false, duplicate: true });
    expect(restarted.outbox.stats().lastSeq).toBe(0);
  });

  it('refuses an event for another asset without recording it', () => {
    const { truth, outbox } = parts();
    expect(() => truth.record({ ...event, eventId: 'evt-2', assetId: 'machine-4' })).toThrow(/machine-4.*machine-3/);
    expect(outbox.stats().lastSeq).toBe(0);
  });
});

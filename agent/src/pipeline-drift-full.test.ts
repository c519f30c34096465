/**
 * The drift snapshot beside the feature-window tail on a SQLite outbox at its file cap (real SQLite file,
 * real onnxruntime): a prediction commit whose records are shed and whose states find no room leaves
 * both snapshots behind; the next commit (an event) carries the tail again, and must carry the drift
 * counts with it, or the stored resume point runs past a row the stored counts miss. Killed right after
 * that commit (the data directory copied as a SIGKILL leaves it) and restarted, the agent publishes the
 * drift window with as many rows as an uninterrupted run.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import { FeatureTail } from './features/window-tail.js';
import { loadModel, type LoadedModel } from './inference/model.js';
import { fixedScoring, scorerFor } from './inference/slots.js';
import { Counters } from './metrics/counters.js';
import { MetricWindows } from './metrics/metric-windows.js';
import { SqliteOutbox } from './outbox/sqlite-outbox.js';
import { fillWithCritical } from './outbox/suite-drafts.js';
import { Pipeline } from './pipeline.js';
import { qualityConfigSchema } from './quality/config.js';
import { DriftState } from './quality/drift-state.js';
import { QualityMonitor } from './quality/monitor.js';
import { FakeClock } from './testing/fake-clock.js';
import { captureLogger, silentLogger } from './testing/logger.js';
import { TINY_T0 as T0, tinyReading as reading, tinySpec, writeTinyModel } from './testing/tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-pipeline-drift-full-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;
const WINDOW_HOURS = 12;
/** The first reading that makes a row (the longest feature window is 3 readings): its commit is the first to carry a drift state. */
const SHED = 2;
const LAST = 30;

/** 100 bins per reference: a snapshot of one window (6 features and the score, 5.6 KB) needs overflow pages a full file cannot give. */
const bins = (lo: number, hi: number) => ({
  edges: Array.from({ length: 101 }, (_, i) => lo + ((hi - lo) * i) / 100),
  shares: Array.from({ length: 100 }, () => 0.01),
});
const features = [
  { name: 'a_mean_3', signal: 'a', agg: 'mean', window: 3 },
  { name: 'b_last_1', signal: 'b', agg: 'last', window: 1 },
  { name: 'a_last_1', signal: 'a', agg: 'last', window: 1 },
  { name: 'b_mean_3', signal: 'b', agg: 'mean', window: 3 },
  { name: 'a_mean_2', signal: 'a', agg: 'mean', window: 2 },
  { name: 'b_mean_2', signal: 'b', agg: 'mean', window: 2 },
] as const;
// scores below the threshold: no alert (a critical record) competes for the full file
const modelDir = writeTinyModel(join(dir, 'model'), { weights: features.map(() => -0.01) }, tinySpec({ features: [...features] }), {
  reference: { bins: { ...Object.fromEntries(features.map((f) => [f.name, bins(-100, 100)])), score: bins(0, 1) } },
});

interface Agent {
  readonly outbox: SqliteOutbox;
  readonly pipeline: Pipeline;
  readonly tail: FeatureTail;
  readonly lines: Record<string, unknown>[];
  /** n of every drift window committed, by window start. */
  readonly drift: Map<string, number>;
}

function agent(model: LoadedModel, file: string, opts: { maxFileBytes?: number; ended: boolean }): Agent {
  const { log, lines } = captureLogger('info');
  const outbox = new SqliteOutbox({ file, deviceId: 'dev-1', synchronous: 'NORMAL', clock: new FakeClock(), log, ...(opts.maxFileBytes === undefined ? {} : { maxFileBytes: opts.maxFileBytes }) });
  outbox.start();
  const drift = new Map<string, number>();
  outbox.onCommit((entries) => {
    for (const e of entries) {
      if (e.kind !== 'drift') continue;
      const r = JSON.parse(e.payload.toString('utf8')) as { windowStart: string; n: number };
      drift.set(r.windowStart, r.n);
    }
  });
  // the resume point is the tail's, as replay-position.ts prefers it
  const tail: FeatureTail = new FeatureTail({ outbox, assetId: 'm1', source: 'data', resumedAfter: () => tail.resumePoint(), log });
  const config = qualityConfigSchema.parse({ driftWindowSeconds: WINDOW_HOURS * 3600 });
  const keeper = new DriftState({ outbox, assetId: 'm1', windowMs: WINDOW_HOURS * HOUR, resumedAfter: () => tail.resumePoint()?.readings, log });
  const quality = new QualityMonitor({ config, assetId: 'm1', drift: keeper, inputEnded: () => opts.ended, log });
  quality.start();
  const pipeline = new Pipeline({
    config: { assetId: 'm1', maxBatchRows: 1, windowMs: 24 * HOUR },
    scoring: fixedScoring(scorerFor(model, systemClock, { cooldownMs: HOUR, criticalMargin: 0.5 })),
    windows: new MetricWindows({ windowMs: 24 * HOUR, assetId: 'm1', model: model.ref }),
    counters: new Counters(), outbox, log, quality, tail,
  });
  return { outbox, pipeline, tail, lines, drift };
}

const event = { time: T0 + SHED * HOUR, type: 'failure' as const, source: 'replay' as const };
const first = new Date(T0).toISOString();

/** n of the first drift window: of an uninterrupted run, or of one whose commit at SHED is shed, then `after` (on room again), a restart. */
async function firstWindow(model: LoadedModel, name: string, after?: 'event-then-kill' | 'stop'): Promise<{ n: number | undefined; restarted?: Agent }> {
  if (after === undefined) {
    const whole = agent(model, join(dir, name, 'outbox.sqlite'), { ended: true });
    for (let h = 0; h <= LAST; h++) {
      await whole.pipeline.reading(reading(h));
      if (h === SHED) await whole.pipeline.event(event);
    }
    await whole.pipeline.finish(true);
    whole.outbox.stop();
    return { n: whole.drift.get(first) };
  }
  const cut = agent(model, join(dir, name, 'outbox.sqlite'), { maxFileBytes: 96 * 1024, ended: false });
  for (let h = 0; h < SHED; h++) await cut.pipeline.reading(reading(h));
  // critical records up to the cap, so that nothing routine is left to evict
  const events = fillWithCritical(cut.outbox);
  cut.lines.length = 0;
  await cut.pipeline.reading(reading(SHED));
  expect(cut.lines.filter((l) => l['msg'] === 'state not written: outbox full')).toHaveLength(1);
  // deliveries make room: the next commit carries the snapshots again
  cut.outbox.ack(events.slice(0, 200));
  const image = join(dir, `${name}-image`);
  if (after === 'event-then-kill') await cut.pipeline.event(event);
  else await cut.pipeline.finish(true);
  // a kill right after the event's commit leaves the file (and its WAL) as it is now
  cpSync(join(dir, name), image, { recursive: true });
  cut.outbox.stop();
  const restarted = agent(model, join(image, 'outbox.sqlite'), { ended: true });
  if (after === 'stop') await restarted.pipeline.event(event);
  // the source resumes after the tail's reading mark (one reading an hour), as the replay does
  const resumed = restarted.tail.resumePoint()?.readings;
  expect(resumed?.count, after).toBe(1);
  for (let h = (resumed!.time - T0) / HOUR + 1; h <= LAST; h++) await restarted.pipeline.reading(reading(h));
  await restarted.pipeline.finish(true);
  restarted.outbox.stop();
  return { n: restarted.drift.get(first), restarted };
}

describe('drift snapshot with the feature-window tail on a full outbox', () => {
  it('a prediction commit shed on a full file, then an event and a kill, or a clean stop: the restarted agent publishes the window with every row', async () => {
    const model = await loadModel(modelDir);
    try {
      const whole = await firstWindow(model, 'whole');
      expect(whole.n).toBe(WINDOW_HOURS - SHED);
      for (const after of ['event-then-kill', 'stop'] as const) {
        const { n, restarted } = await firstWindow(model, after, after);
        expect(restarted!.lines.find((l) => l['msg'] === 'drift windows restored'), after).toMatchObject({ n: 1 });
        expect(n, after).toBe(whole.n);
      }
    } finally {
      await model.session.release();
    }
  });
});

/**
 * A stop right after a model switch, before the new model scored a row (its feature windows warm up
 * again: another spec), on a real SQLite outbox and real onnxruntime: the pipeline tells the quality
 * monitor which models run as it adopts them, so the old model's drift window (it can get no more rows)
 * is published at the stop instead of being kept pending for a start that would drop it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import { loadModel } from './inference/model.js';
import { scorerFor, type ScoringSet, type ScoringSource } from './inference/slots.js';
import { Counters } from './metrics/counters.js';
import { MetricWindows } from './metrics/metric-windows.js';
import { SqliteOutbox } from './outbox/sqlite-outbox.js';
import { Pipeline } from './pipeline.js';
import { qualityConfigSchema } from './quality/config.js';
import { DriftState } from './quality/drift-state.js';
import { QualityMonitor } from './quality/monitor.js';
import { FakeClock } from './testing/fake-clock.js';
import { captureLogger } from './testing/logger.js';
import { tinySpec, tinyReading as reading, writeTinyModel } from './testing/tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-pipeline-drift-switch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;
const bins = { edges: [-100, 0, 100], shares: [0.5, 0.5] };

describe('drift windows at a stop right after a model switch', () => {
  it('the old model window is published at the stop, none is kept pending', async () => {
    const v1 = await loadModel(writeTinyModel(join(dir, 'v1'), { weights: [-0.01, -0.01] }, tinySpec(), { reference: { bins: { a_mean_3: bins } } }));
    // another spec: a longer window, so the new model scores nothing in the readings before the stop
    const spec2 = tinySpec({ features: [{ name: 'a_mean_6', signal: 'a', agg: 'mean', window: 6 }, { name: 'b_last_1', signal: 'b', agg: 'last', window: 1 }] });
    const v2 = await loadModel(writeTinyModel(join(dir, 'v2'), { weights: [-0.01, -0.01] }, spec2, { version: '2.0.0', reference: { bins: { a_mean_6: bins } } }));
    const { log, lines } = captureLogger('info');
    const outbox = new SqliteOutbox({ file: join(dir, 'outbox.sqlite'), deviceId: 'dev-1', synchronous: 'NORMAL', clock: new FakeClock(), log });
    outbox.start();
    const drift: { version: string; n: number }[] = [];
    outbox.onCommit((entries) => {
      for (const e of entries) {
        if (e.kind !== 'drift') continue;
        const r = JSON.parse(e.payload.toString('utf8')) as { model: { version: string }; n: number };
        drift.push({ version: r.model.version, n: r.n });
      }
    });
    const alerts = { cooldownMs: HOUR, criticalMargin: 0.5 };
    let set: ScoringSet = { generation: 0, active: scorerFor(v1, systemClock, alerts) };
    const scoring: ScoringSource = { current: () => set, adopted: () => undefined };
    const keeper = new DriftState({ outbox, assetId: 'm1', windowMs: 24 * HOUR, resumedAfter: () => undefined, log });
    const quality = new QualityMonitor({ config: qualityConfigSchema.parse({ driftWindowSeconds: 86_400 }), assetId: 'm1', drift: keeper, inputEnded: () => false, log });
    const pipeline = new Pipeline({
      config: { assetId: 'm1', maxBatchRows: 1, windowMs: 24 * HOUR },
      scoring, quality, counters: new Counters(), outbox, log,
      windows: new MetricWindows({ windowMs: 24 * HOUR, assetId: 'm1', model: v1.ref }),
    });
    try {
      for (let h = 0; h < 10; h++) await pipeline.reading(reading(h));
      set = { generation: 1, active: scorerFor(v2, systemClock, alerts) };
      for (let h = 10; h < 13; h++) await pipeline.reading(reading(h));
      await pipeline.finish(true);
    } finally {
      outbox.stop();
      await v1.session.release();
      await v2.session.release();
    }
    // v1 scored hours 2..9 (a 3-reading window to warm up)
    expect(drift).toEqual([{ version: '1.0.0', n: 8 }]);
    expect(lines.find((l) => l['msg'] === 'drift windows kept pending for the next start')).toBeUndefined();
  });
});

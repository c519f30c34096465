/**
 * How often the drift snapshot is written (real SQLite outbox, real onnxruntime): with the rows that
 * change its counts, and not again until they change. The pipeline tells the monitor a snapshot was
 * stored (restart-state.ts `stored` -> `driftStored`); without that the counts stay "changed" and every
 * commit of no records (the quality commit after each scored reading) writes the snapshot again: one
 * SQLite write per reading for nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from './clock.js';
import { loadModel } from './inference/model.js';
import { fixedScoring, scorerFor } from './inference/slots.js';
import { Counters } from './metrics/counters.js';
import { MetricWindows } from './metrics/metric-windows.js';
import { SqliteOutbox } from './outbox/sqlite-outbox.js';
import { Pipeline } from './pipeline.js';
import { qualityConfigSchema } from './quality/config.js';
import { DriftState } from './quality/drift-state.js';
import { QualityMonitor } from './quality/monitor.js';
import { FakeClock } from './testing/fake-clock.js';
import { silentLogger } from './testing/logger.js';
import { tinySpec, tinyReading as reading, writeTinyModel } from './testing/tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-pipeline-drift-writes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;
const bins = { edges: [-100, 0, 100], shares: [0.5, 0.5] };

describe('drift snapshot writes', () => {
  it('a drift snapshot is written with the rows that change it, never by a commit of no records', async () => {
    const model = await loadModel(writeTinyModel(join(dir, 'model'), { weights: [-0.01, -0.01] }, tinySpec(), { reference: { bins: { a_mean_3: bins } } }));
    const log = silentLogger;
    const outbox = new SqliteOutbox({ file: join(dir, 'outbox.sqlite'), deviceId: 'dev-1', synchronous: 'NORMAL', clock: new FakeClock(), log });
    outbox.start();
    const commits: { drafts: number; drift: boolean }[] = [];
    const commitWithStates = outbox.commitWithStates.bind(outbox);
    vi.spyOn(outbox, 'commitWithStates').mockImplementation((drafts, states) => {
      commits.push({ drafts: drafts.length, drift: states.some((st) => st.key === 'drift:m1') });
      return commitWithStates(drafts, states);
    });
    const keeper = new DriftState({ outbox, assetId: 'm1', windowMs: 24 * HOUR, resumedAfter: () => undefined, log });
    const quality = new QualityMonitor({ config: qualityConfigSchema.parse({ driftWindowSeconds: 86_400 }), assetId: 'm1', drift: keeper, inputEnded: () => false, log });
    quality.start();
    const pipeline = new Pipeline({
      config: { assetId: 'm1', maxBatchRows: 1, windowMs: 24 * HOUR },
      scoring: fixedScoring(scorerFor(model, systemClock, { cooldownMs: HOUR, criticalMargin: 0.5 })),
      windows: new MetricWindows({ windowMs: 24 * HOUR, assetId: 'm1', model: model.ref }),
      counters: new Counters(), outbox, log, quality,
    });
    try {
      for (let h = 0; h < 12; h++) await pipeline.reading(reading(h));
      const scored = commits.filter((c) => c.drafts > 0);
      const empty = commits.filter((c) => c.drafts === 0);
      // ten rows scored (the longest window is 3 readings)
      expect(scored).toHaveLength(10);
      expect(scored.every((c) => c.drift)).toBe(true);
      // the quality commit after each row has no records and no changed state: it writes nothing
      expect(empty).toEqual([]);
      expect(outbox.state('drift:m1')).toBeDefined();
    } finally {
      outbox.stop();
      await model.session.release();
    }
  });
});

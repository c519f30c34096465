/**
 * `npm run bench:snapshots` (with bench/drift-state-cost.ts; alone: `npx tsx bench/window-tail-cost.ts` after `npx tsc -b`): what the feature-window
 * snapshot (agent/src/features/window-tail.ts) costs, printed only (bench/RESULTS.md, agent section notes):
 * - snapshot: building one snapshot of azure 1.0.0's windows (24 readings x 4 signals);
 * - sqlite: SqliteOutbox.commit of one 64-prediction batch with and without the snapshot (NORMAL, WAL);
 * - pipeline: Pipeline.reading() over Azure machines 1-3 at batch 64 with 1 h metric windows, with and without
 *   the snapshot, the two back to back in alternating order; the median of the per-run ratios;
 * - openWindows: the same replay with the feature-window snapshot on both sides, without and with the
 *   metric/comparison-window snapshot (agent/src/metrics/open-windows.ts), and one such snapshot alone.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { modelCardSchema, type FeatureSpec } from '@pdm/protocol';
import { systemClock } from '../agent/dist/clock.js';
import { AssetReader } from '../agent/dist/features/asset-reader.js';
import { FeatureTail, type TailState } from '../agent/dist/features/window-tail.js';
import { loadModel, type LoadedModel } from '../agent/dist/inference/model.js';
import { MetricWindows } from '../agent/dist/metrics/metric-windows.js';
import { OpenWindows } from '../agent/dist/metrics/open-windows.js';
import { SqliteOutbox } from '../agent/dist/outbox/sqlite-outbox.js';
import { predictionDraft } from '../agent/dist/outbox/suite-drafts.js';
import type { RawReading } from '../agent/dist/sources/source.js';
import { azureTelemetry } from '../agent/dist/testing/azure-telemetry.js';
import { repoRoot } from '../test/helpers/fleet.js';
import { alternate, replayPipeline } from './lib/alternate.js';
import { loadNow, median } from './results.js';

const silent = pino({ level: 'silent' });
const MODEL = join(repoRoot, 'models/artifacts/azure-pdm-failure-24h/1.0.0');
const COMMITS = 3000;
const ROUNDS = 7;
const PIPELINE_RUNS = 41;

const spec: FeatureSpec = modelCardSchema.parse(JSON.parse(readFileSync(join(MODEL, 'card.json'), 'utf8'))).featureSpec;
const signals = spec.signals.map((s) => s.name);

/** The state a commit of the pipeline carries with the windows (the reading at `time`, no event yet, no alert). */
const stateAt = (time: number): TailState => ({
  readings: { time, count: 1 }, events: undefined, model: { name: 'bench', version: '1.0.0' }, alerts: { over: false, lastRaisedAt: Number.NEGATIVE_INFINITY },
});

/** us per commit: snapshot alone, SQLite commit without and with it. */
function commitCosts(): Record<'snapshot' | 'plain' | 'withSnapshot', number[]> {
  const reader = new AssetReader(spec);
  for (const r of azureTelemetry(signals, { machines: ['1'], hoursPerMachine: 100 }).get('1')!) reader.accept(r);
  const dir = mkdtempSync(join(tmpdir(), 'pdm-tail-cost-'));
  const outbox = new SqliteOutbox({ file: join(dir, 'outbox.sqlite'), deviceId: 'bench', synchronous: 'NORMAL', clock: systemClock, log: silent });
  outbox.start();
  const tail = new FeatureTail({ outbox, assetId: 'a', source: 'bench', resumedAfter: () => undefined, log: silent });
  const draft = predictionDraft(Array.from({ length: 64 }, (_, i) => i / 64));
  const out = { snapshot: [] as number[], plain: [] as number[], withSnapshot: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of ['plain', 'withSnapshot', 'snapshot'] as const) {
      const t0 = performance.now();
      for (let i = 0; i < COMMITS; i++) {
        if (side === 'snapshot') tail.snapshot(spec, stateAt(i), reader.tail());
        else outbox.commit([draft], side === 'withSnapshot' ? tail.snapshot(spec, stateAt(i), reader.tail()) : undefined);
      }
      out[side].push(((performance.now() - t0) * 1000) / COMMITS);
      outbox.ack(outbox.pending({ afterSeq: 0, limit: 1_000_000 }).map((e) => e.seq));
    }
  }
  outbox.stop();
  rmSync(dir, { recursive: true, force: true });
  return out;
}

/** us per scored row of one replay of `assets` through the pipeline; counts the snapshots it built. */
function replay(model: LoadedModel, assets: readonly RawReading[][], withSnapshot: boolean, count: { n: number }): Promise<number> {
  return replayPipeline(model, assets, (assetId, outbox) => {
    if (!withSnapshot) return {};
    const tail = new FeatureTail({ outbox, assetId, source: 'bench', resumedAfter: () => undefined, log: silent });
    return {
      tail: { restore: tail.restore.bind(tail), snapshot: (...args: Parameters<FeatureTail['snapshot']>) => (count.n++, tail.snapshot(...args)) },
    };
  });
}

/** us per scored row of one replay with the feature-window snapshot, and with the open windows' too when `withIt`. */
function replayOpen(model: LoadedModel, assets: readonly RawReading[][], withIt: boolean, count: { n: number }): Promise<number> {
  return replayPipeline(model, assets, (assetId, outbox) => {
    const tail = new FeatureTail({ outbox, assetId, source: 'bench', resumedAfter: () => undefined, log: silent });
    if (!withIt) return { tail };
    const open = new OpenWindows({ outbox, assetId, windowMs: 3_600_000, source: 'bench', resumedAfter: () => undefined, log: silent });
    return { tail, openWindows: { restore: open.restore.bind(open), snapshot: (...args: Parameters<OpenWindows['snapshot']>) => (count.n++, open.snapshot(...args)) } };
  });
}

/** us per open-windows snapshot of one open 1 h window, as the pipeline takes it (no comparison). */
function openSnapshotUs(): number[] {
  const open = new OpenWindows({ outbox: { state: () => undefined }, assetId: 'a', windowMs: 3_600_000, source: 'bench', resumedAfter: () => undefined, log: silent });
  const windows = new MetricWindows({ windowMs: 3_600_000, assetId: 'a', model: { name: 'bench', version: '1.0.0' } });
  windows.advance(0);
  windows.reading();
  windows.inferred([0], 0.03);
  const out: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    for (let i = 0; i < COMMITS; i++) open.snapshot({ time: i, count: 1 }, { metrics: windows.state(), shadow: undefined });
    out.push(((performance.now() - t0) * 1000) / COMMITS);
  }
  return out;
}

const load = loadNow();
const openEach = openSnapshotUs();
const costs = commitCosts();
const model = await loadModel(MODEL);
const assets = [...azureTelemetry(signals, { machines: ['1', '2', '3'] }).values()];
const count = { n: 0 };
// snapshots are counted over the timed runs only
const pipeline = await alternate(PIPELINE_RUNS, (withIt) => replay(model, assets, withIt, count), () => (count.n = 0));
const openCount = { n: 0 };
const openWindows = await alternate(PIPELINE_RUNS, (withIt) => replayOpen(model, assets, withIt, openCount), () => (openCount.n = 0));
await model.session.release();
const f = (xs: readonly number[]): string => median(xs).toFixed(2);
console.log(JSON.stringify({
  at: new Date().toISOString(), loadAtStart: load, loadAtEnd: loadNow(),
  snapshotUsEach: f(costs.snapshot), sqliteCommitUs: { plain: f(costs.plain), withSnapshot: f(costs.withSnapshot) },
  sqliteSpread: { plain: costs.plain.map((x) => x.toFixed(0)), withSnapshot: costs.withSnapshot.map((x) => x.toFixed(0)) },
  pipelineUsPerRow: pipeline,
  snapshotsPerReplay: count.n / PIPELINE_RUNS, rowsPerReplay: assets.reduce((n, a) => n + a.length, 0),
  openWindows: { snapshotUsEach: f(openEach), pipelineUsPerRow: openWindows, snapshotsPerReplay: openCount.n / PIPELINE_RUNS },
}, null, 1));

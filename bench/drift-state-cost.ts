/**
 * `npm run bench:snapshots` (with bench/window-tail-cost.ts; alone: `npx tsx bench/drift-state-cost.ts` after `npx tsc -b`): what keeping the drift
 * windows across a restart (agent/src/quality/drift-state.ts) costs, printed only:
 * - snapshot: building one snapshot of azure 1.0.0's drift windows (29 references x 10 bins, one open window);
 * - stage: QualityMonitor.stage + scored of one 64-row batch, with the drift keeper (checkpoint, counts,
 *   snapshot) and without it (counts only, at scored);
 * - sqlite: SqliteOutbox.commit of one 64-prediction batch with the feature-window snapshot alone and with
 *   the drift snapshot beside it (NORMAL, WAL);
 * - pipeline: Pipeline.reading() over Azure machines 1-3 at batch 64 with 1 h metric windows, a quality
 *   monitor (30-day drift windows) and the feature-window snapshot, with and without the drift keeper, the
 *   two back to back in alternating order; the median of the per-run ratios.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { modelCardSchema, type ModelCard } from '@pdm/protocol';
import { systemClock } from '../agent/dist/clock.js';
import { AssetReader } from '../agent/dist/features/asset-reader.js';
import { FeatureTail, type TailState } from '../agent/dist/features/window-tail.js';
import { loadModel, type LoadedModel } from '../agent/dist/inference/model.js';
import type { ScoringSet } from '../agent/dist/inference/slots.js';
import type { RecordDraft } from '../agent/dist/outbox/outbox.js';
import { SqliteOutbox } from '../agent/dist/outbox/sqlite-outbox.js';
import { predictionDraft } from '../agent/dist/outbox/suite-drafts.js';
import { qualityConfigSchema } from '../agent/dist/quality/config.js';
import { DriftState, type DriftTracker } from '../agent/dist/quality/drift-state.js';
import { DriftWindows, driftReferences } from '../agent/dist/quality/drift-windows.js';
import { QualityMonitor } from '../agent/dist/quality/monitor.js';
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
const quality = qualityConfigSchema.parse({});

const card: ModelCard = modelCardSchema.parse(JSON.parse(readFileSync(join(MODEL, 'card.json'), 'utf8')));
const spec = card.featureSpec;
const signals = spec.signals.map((s) => s.name);
const set = { generation: 0, active: { model: { ref: { name: card.name, version: card.version }, card } } } as unknown as ScoringSet;

/** The state a pipeline commit carries with the windows (the reading at `time`, no event yet, no alert). */
const stateAt = (time: number): TailState => ({
  readings: { time, count: 1 }, events: undefined, model: { name: 'bench', version: '1.0.0' }, alerts: { over: false, lastRaisedAt: Number.NEGATIVE_INFINITY },
});

/** 64 rows of machine 1 with their times, and a prediction batch of them. */
function rowsOf(): { rows: { time: number; row: Float32Array }[]; drafts: RecordDraft[] } {
  const reader = new AssetReader(spec);
  const rows: { time: number; row: Float32Array }[] = [];
  for (const r of azureTelemetry(signals, { machines: ['1'], hoursPerMachine: 200 }).get('1')!) {
    const out = reader.accept(r);
    if (out.ok && out.row !== undefined && rows.length < 64) rows.push({ time: r.time, row: Float32Array.from(out.row) });
  }
  const iso = (t: number): string => new Date(t).toISOString();
  const record = {
    time: iso(rows[rows.length - 1]!.time), assetId: 'a', model: { name: card.name, version: card.version }, role: 'active', horizonHours: 24,
    threshold: spec.threshold, predictions: rows.map((r, i) => ({ t: iso(r.time), score: (i % 10) / 10, alert: false })),
  };
  return { rows, drafts: [{ kind: 'predictions', record } as RecordDraft] };
}

/** us per call: snapshot alone; stage + scored with and without the keeper; SQLite commit without and with it. */
function costs(): Record<'snapshot' | 'countOnly' | 'staged' | 'tailOnly' | 'withDrift', number[]> {
  const { rows, drafts } = rowsOf();
  const dir = mkdtempSync(join(tmpdir(), 'pdm-drift-cost-'));
  const outbox = new SqliteOutbox({ file: join(dir, 'outbox.sqlite'), deviceId: 'bench', synchronous: 'NORMAL', clock: systemClock, log: silent });
  outbox.start();
  const keeper = new DriftState({ outbox, assetId: 'a', windowMs: quality.driftWindowSeconds * 1000, resumedAfter: () => undefined, log: silent });
  const kept = new QualityMonitor({ config: quality, assetId: 'a', drift: keeper, log: silent });
  const plain = new QualityMonitor({ config: quality, assetId: 'a', log: silent });
  kept.stage(set, rows, drafts);
  kept.scored(set, rows, drafts);
  kept.stage(set, rows, drafts);
  const driftState = kept.driftSnapshot({ time: rows[rows.length - 1]!.time, count: 1 })!;
  kept.scored(set, rows, drafts);
  // the windows of one tracker, as the monitor holds them: one open window of the 64 rows
  const drift = new DriftWindows(quality.driftWindowSeconds * 1000, driftReferences(card));
  for (const [i, r] of rows.entries()) drift.add(r.time, r.row, (i % 10) / 10);
  const trackers: DriftTracker[] = [{ model: { name: card.name, version: card.version }, role: 'active', drift }];
  const tail = new FeatureTail({ outbox, assetId: 'a', source: 'bench', resumedAfter: () => undefined, log: silent });
  const reader = new AssetReader(spec);
  for (const r of azureTelemetry(signals, { machines: ['1'], hoursPerMachine: 100 }).get('1')!) reader.accept(r);
  const batch = predictionDraft(Array.from({ length: 64 }, (_, i) => i / 64));
  const out = { snapshot: [] as number[], countOnly: [] as number[], staged: [] as number[], tailOnly: [] as number[], withDrift: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of ['tailOnly', 'withDrift', 'snapshot', 'countOnly', 'staged'] as const) {
      const t0 = performance.now();
      for (let i = 0; i < COMMITS; i++) {
        if (side === 'snapshot') keeper.snapshot({ time: i, count: 1 }, trackers);
        else if (side === 'countOnly') plain.scored(set, rows, drafts);
        else if (side === 'staged') (kept.stage(set, rows, drafts), (kept.driftChanged() ? kept.driftSnapshot({ time: i, count: 1 }) : undefined), kept.scored(set, rows, drafts));
        else {
          const t = tail.snapshot(spec, stateAt(i), reader.tail());
          outbox.commit([batch], side === 'withDrift' ? [t, driftState] : t);
        }
      }
      out[side].push(((performance.now() - t0) * 1000) / COMMITS);
      outbox.ack(outbox.pending({ afterSeq: 0, limit: 1_000_000 }).map((e) => e.seq));
    }
  }
  outbox.stop();
  rmSync(dir, { recursive: true, force: true });
  return out;
}

/** us per scored row of one replay of `assets` through the pipeline; counts the drift snapshots it built. */
function replay(model: LoadedModel, assets: readonly RawReading[][], withDrift: boolean, count: { n: number }): Promise<number> {
  return replayPipeline(model, assets, (assetId, outbox) => {
    const tail = new FeatureTail({ outbox, assetId, source: 'bench', resumedAfter: () => undefined, log: silent });
    const keeper = new DriftState({ outbox, assetId, windowMs: quality.driftWindowSeconds * 1000, resumedAfter: () => undefined, log: silent });
    const counted = {
      restore: keeper.restore.bind(keeper),
      forgetUnclaimed: keeper.forgetUnclaimed.bind(keeper),
      storedKeys: keeper.storedKeys.bind(keeper),
      snapshot: (...args: Parameters<DriftState['snapshot']>) => (count.n++, keeper.snapshot(...args)),
    };
    return { tail, quality: new QualityMonitor({ config: quality, assetId, log: silent, ...(withDrift ? { drift: counted } : {}) }) };
  });
}

const load = loadNow();
const c = costs();
const model = await loadModel(MODEL);
const assets = [...azureTelemetry(signals, { machines: ['1', '2', '3'] }).values()];
const count = { n: 0 };
// snapshots are counted over the timed runs only
const pipeline = await alternate(PIPELINE_RUNS, (withIt) => replay(model, assets, withIt, count), () => (count.n = 0));
await model.session.release();
const f = (xs: readonly number[]): string => median(xs).toFixed(2);
console.log(JSON.stringify({
  at: new Date().toISOString(), loadAtStart: load, loadAtEnd: loadNow(),
  snapshotUsEach: f(c.snapshot), batchOf64Us: { countOnly: f(c.countOnly), stagedWithSnapshot: f(c.staged) },
  sqliteCommitUs: { tailOnly: f(c.tailOnly), withDrift: f(c.withDrift) },
  sqliteSpread: { tailOnly: c.tailOnly.map((x) => x.toFixed(0)), withDrift: c.withDrift.map((x) => x.toFixed(0)) },
  pipelineUsPerRow: pipeline,
  driftSnapshotsPerReplay: count.n / PIPELINE_RUNS, readingsPerReplay: assets.reduce((n, a) => n + a.length, 0),
}, null, 1));

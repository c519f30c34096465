/**
 * `npm run bench:pipeline`: the agent's inference path against a bare onnxruntime loop on the same model,
 * the same rows and the same batch size, in one run (issue 9). Goal: <= 1.15x the bare cost per row at
 * batch 64. Headline: azure-pdm-failure-24h 1.0.0 at batch 1, 16 and 64; then every reference model
 * the agent runs, at batch 64, so the figure is not only about the smallest model.
 *
 * Sides, each over the same replay (CSV strings, as the replay source hands them over):
 * - bare: `session.run` on prebuilt float32 [B, F] tensors of the feature rows, scores read out; nothing else.
 * - runner: the agent's InferenceRunner.score on the same rows (copy into one tensor, run, shape checks).
 * - features: the feature stage alone (AssetReader: reading checks, feature windows, the row).
 * - records: encoding (encodeDraft, as every outbox commit does) the records the pipeline committed in this
 *   replay, per scored row: the agent's own from the JSON their builders made (outbox/agent-records.ts, no
 *   schema pass), any other draft validated by its zod schema.
 * - pipeline: Pipeline.reading() per raw reading: reading checks, feature windows, batching at
 *   maxBatchRows = B, the run, alert policy, prediction and metric-window records built and committed
 *   to an in-memory outbox (SQLite commits are bench:outbox's figure), with the feature-window and
 *   metric-window snapshots each commit carries as in the agent. Twice: with the agent's default
 *   metric window (1 h; one window record per reading for hourly data) and with 24 h windows (the
 *   fleet configuration, deploy/compose/agent.json).
 *
 * Cost per row = wall time / rows scored. Every run times all sides back to back in a rotating order; a
 * ratio is the median of the per-run ratios to the bare loop of the same run.
 * Env: PDM_BENCH_RUNS (default 9).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { pino } from 'pino';
import { loadModel, MemoryOutbox, systemClock, type LoadedModel, type RawReading } from '@pdm/agent';
// built agent parts the package index does not export (what runs on a device; see bench/outbox.ts)
import { AssetReader } from '../agent/dist/features/asset-reader.js';
import { FeatureTail } from '../agent/dist/features/window-tail.js';
import { fixedScoring, scorerFor } from '../agent/dist/inference/slots.js';
import { Counters } from '../agent/dist/metrics/counters.js';
import { MetricWindows } from '../agent/dist/metrics/metric-windows.js';
import { OpenWindows } from '../agent/dist/metrics/open-windows.js';
import { encodeDraft, type RecordDraft } from '../agent/dist/outbox/outbox.js';
import { Pipeline } from '../agent/dist/pipeline.js';
import { parseEventTime } from '../agent/dist/sources/time.js';
import { azureTelemetry, repoRoot } from '../test/helpers/fleet.js';
import { loadNow, median, ratioVerdict, resultsSection, runHeader } from './results.js';

const RUNS = Number(process.env['PDM_BENCH_RUNS'] ?? 9);
const HEADLINE_BATCHES = [1, 16, 64] as const;
const GOAL = 1.15;
const HOUR_MS = 3_600_000;
const silent = pino({ level: 'silent' });
const artifact = (name: string): string => join(repoRoot, 'models/artifacts', name, '1.0.0');

/** One asset's readings, as the replay source delivers them: event time and the file's strings. */
type Asset = RawReading[];

/** Azure PdM machines 1-3 (2,160 hourly readings each). */
function azureAssets(signals: readonly string[]): Asset[] {
  const [header, ...lines] = readFileSync(azureTelemetry, 'utf8').trim().split('\n');
  const cols = header!.split(',');
  const machine = cols.indexOf('machineID');
  const time = cols.indexOf('datetime');
  const byMachine = new Map<string, Asset>();
  for (const line of lines) {
    const cells = line.split(',');
    const id = cells[machine]!;
    if (!['1', '2', '3'].includes(id)) continue;
    const values = Object.fromEntries(signals.map((s) => [s, cells[cols.indexOf(s)]]));
    const list = byMachine.get(id) ?? [];
    list.push({ time: parseEventTime(cells[time]!)!, values });
    byMachine.set(id, list);
  }
  return [...byMachine.values()];
}

/** C-MAPSS FD001 training engines 1-30 (one cycle per reading interval, the card's hour). */
function cmapssAssets(signals: readonly string[]): Asset[] {
  const names = ['unit', 'cycle', 'setting1', 'setting2', 'setting3', ...Array.from({ length: 21 }, (_, i) => `s${i + 1}`)];
  const units = new Map<string, Asset>();
  const start = Date.UTC(2015, 0, 1);
  for (const line of readFileSync(join(repoRoot, 'models/data/cmapss/train_FD001.txt'), 'utf8').trim().split('\n')) {
    const cells = line.trim().split(/\s+/);
    const unit = cells[0]!;
    if (Number(unit) > 30) continue;
    const values = Object.fromEntries(signals.map((s) => [s, cells[names.indexOf(s)]]));
    const list = units.get(unit) ?? [];
    list.push({ time: start + Number(cells[1]) * HOUR_MS, values });
    units.set(unit, list);
  }
  return [...units.values()];
}

/** AI4I 2020: one machine, 10,000 snapshots a minute apart (the card's reading interval). */
function ai4iAssets(): Asset[] {
  const columns: Record<string, string> = {
    type: 'Type', air_temperature: 'Air temperature [K]', process_temperature: 'Process temperature [K]',
    rotational_speed: 'Rotational speed [rpm]', torque: 'Torque [Nm]', tool_wear: 'Tool wear [min]',
  };
  const [header, ...lines] = readFileSync(join(repoRoot, 'models/data/ai4i2020/ai4i2020.csv'), 'utf8').trim().split('\n');
  const cols = header!.split(',');
  const start = Date.UTC(2015, 0, 1);
  return [lines.map((line, i) => {
    const cells = line.split(',');
    return { time: start + i * 60_000, values: Object.fromEntries(Object.entries(columns).map(([s, c]) => [s, cells[cols.indexOf(c)]])) };
  })];
}

interface Subject {
  readonly label: string;
  readonly model: LoadedModel;
  readonly assets: readonly Asset[];
  /** The feature rows the agent makes from those readings. */
  readonly rows: readonly Float32Array[];
}

function featureRows(model: LoadedModel, assets: readonly Asset[]): Float32Array[] {
  const rows: Float32Array[] = [];
  for (const list of assets) {
    const reader = new AssetReader(model.card.featureSpec);
    for (const r of list) {
      const res = reader.accept(r);
      if (res.ok && res.row !== undefined) rows.push(res.row);
    }
  }
  return rows;
}

interface Sample {
  /** microseconds per row */
  readonly usPerRow: number;
}

async function timed(fn: () => Promise<number> | number): Promise<Sample> {
  const t0 = performance.now();
  const rows = await fn();
  return { usPerRow: ((performance.now() - t0) * 1000) / rows };
}

async function bare(model: LoadedModel, tensors: readonly Float32Array[], size: number): Promise<number> {
  const spec = model.card.featureSpec;
  const width = spec.features.length;
  let sum = 0;
  for (const data of tensors) {
    const out = await model.session.run({ [spec.input.name]: new ort.Tensor('float32', data, [size, width]) }, [spec.output.name]);
    const values = out[spec.output.name]!.data as Float32Array;
    for (let i = 0; i < size; i++) sum += values[i * (values.length / size) + spec.output.column]!;
  }
  if (!Number.isFinite(sum)) throw new Error('bare loop: non-finite scores');
  return tensors.length * size;
}

async function runner(model: LoadedModel, batches: readonly Float32Array[][]): Promise<number> {
  const scorer = scorerFor(model, systemClock, { cooldownMs: 6 * HOUR_MS, criticalMargin: 0.5 });
  let rows = 0;
  for (const b of batches) rows += (await scorer.runner.score(b)).scores.length;
  return rows;
}

/** Keeps what the pipeline commits, to time their validation and encoding on their own. */
class CapturingOutbox extends MemoryOutbox {
  readonly drafts: RecordDraft[] = [];

  override commitWithStates(drafts: readonly RecordDraft[], states: Parameters<MemoryOutbox['commitWithStates']>[1]): ReturnType<MemoryOutbox['commitWithStates']> {
    this.drafts.push(...drafts);
    return super.commitWithStates(drafts, states);
  }
}

interface PipelineRun {
  readonly rows: number;
  readonly drafts: readonly RecordDraft[];
}

/**
 * One replay through the pipeline. `capture` keeps the drafts it commits (for the records side); the timed
 * runs do not, as holding every record alive is the bench's cost, not the agent's.
 */
async function pipeline(model: LoadedModel, assets: readonly Asset[], size: number, windowMs: number, capture = false): Promise<PipelineRun> {
  let rows = 0;
  const drafts: RecordDraft[] = [];
  for (const [i, list] of assets.entries()) {
    const assetId = `asset-${i + 1}`;
    const counters = new Counters();
    const outbox = capture ? new CapturingOutbox({ deviceId: 'bench', clock: systemClock }) : new MemoryOutbox({ deviceId: 'bench', clock: systemClock });
    outbox.start();
    const p = new Pipeline({
      config: { assetId, maxBatchRows: size, windowMs },
      scoring: fixedScoring(scorerFor(model, systemClock, { cooldownMs: 6 * HOUR_MS, criticalMargin: 0.5 })),
      windows: new MetricWindows({ windowMs, assetId, model: model.ref }),
      counters,
      outbox,
      log: silent,
      // every commit carries the feature-window snapshot, as in the agent (features/window-tail.ts)
      tail: new FeatureTail({ outbox, assetId, source: 'bench', resumedAfter: () => undefined, log: silent }),
      // and the metric-window snapshot, as in the agent (metrics/open-windows.ts)
      openWindows: new OpenWindows({ outbox, assetId, windowMs, source: 'bench', resumedAfter: () => undefined, log: silent }),
    });
    for (const r of list) await p.reading(r);
    await p.finish(true);
    if (counters.commitFailures > 0 || counters.inferenceErrors > 0) throw new Error(`pipeline: ${JSON.stringify(counters)}`);
    rows += counters.inferences;
    if (outbox instanceof CapturingOutbox) drafts.push(...outbox.drafts);
  }
  return { rows, drafts };
}

const SIDES = ['bare', 'runner', 'features', 'records', 'pipeline', 'pipeline24h'] as const;
type Side = (typeof SIDES)[number];
type Figure = { readonly batch: number } & Record<Side, Sample[]>;

async function measure(s: Subject, size: number): Promise<Figure> {
  const { model, assets, rows } = s;
  const width = model.card.featureSpec.features.length;
  const batches: Float32Array[][] = [];
  for (let i = 0; i + size <= rows.length; i += size) batches.push(rows.slice(i, i + size));
  const tensors = batches.map((b) => {
    const data = new Float32Array(size * width);
    b.forEach((row, i) => data.set(row, i * width));
    return data;
  });
  // warm-up (JIT, onnxruntime's first runs at this shape); it also yields the records the pipeline commits
  await bare(model, tensors, size);
  await runner(model, batches);
  await pipeline(model, assets, size, 24 * HOUR_MS);
  const committed = await pipeline(model, assets, size, HOUR_MS, true);
  const encode = (): number => {
    committed.drafts.forEach((d, i) => encodeDraft('bench', i + 1, d));
    return committed.rows;
  };
  const fig: Figure = { batch: size, bare: [], runner: [], features: [], records: [], pipeline: [], pipeline24h: [] };
  const run: Record<Side, () => Promise<number> | number> = {
    bare: () => bare(model, tensors, size),
    runner: () => runner(model, batches),
    features: () => featureRows(model, assets).length,
    records: encode,
    pipeline: async () => (await pipeline(model, assets, size, HOUR_MS)).rows,
    pipeline24h: async () => (await pipeline(model, assets, size, 24 * HOUR_MS)).rows,
  };
  for (let i = 0; i < RUNS; i++) {
    // rotate the order, so a change in the machine's load hits every side alike
    for (let k = 0; k < SIDES.length; k++) {
      const side = SIDES[(i + k) % SIDES.length]!;
      fig[side].push(await timed(run[side]));
    }
  }
  return fig;
}

const ratio = (s: readonly Sample[], b: readonly Sample[]): number => median(s.map((x, i) => x.usPerRow / b[i]!.usPerRow));
const us = (xs: readonly Sample[]): string => median(xs.map((x) => x.usPerRow)).toFixed(2);

async function subject(label: string, dir: string, assetsOf: (signals: readonly string[]) => Asset[]): Promise<Subject> {
  const model = await loadModel(dir);
  const assets = assetsOf(model.card.featureSpec.signals.map((sig) => sig.name));
  return { label, model, assets, rows: featureRows(model, assets) };
}

const loadAtStart = loadNow();
const headline = await subject('azure-pdm-failure-24h 1.0.0', artifact('azure-pdm-failure-24h'), azureAssets);
const others = [
  await subject('azure-pdm-failure-24h-linear 1.0.0', artifact('azure-pdm-failure-24h-linear'), azureAssets),
  await subject('cmapss-fd001-rul 1.0.0', artifact('cmapss-fd001-rul'), cmapssAssets),
  await subject('ai4i-machine-failure 1.0.0', artifact('ai4i-machine-failure'), () => ai4iAssets()),
];
const figures: Figure[] = [];
for (const size of HEADLINE_BATCHES) figures.push(await measure(headline, size));
const perModel: [Subject, Figure][] = [[headline, figures.find((f) => f.batch === 64)!]];
for (const s of others) perModel.push([s, await measure(s, 64)]);
for (const s of [headline, ...others]) await s.model.session.release();

const at64 = perModel[0]![1];
const readingCount = (s: Subject): number => s.assets.reduce((n, a) => n + a.length, 0);
const describe = (s: Subject): string => {
  const spec = s.model.card.featureSpec;
  return `${s.label}: ${spec.signals.length} signals, ${spec.features.length} features, windows up to ${Math.max(...spec.features.map((f) => f.window))} readings, ${s.assets.length} assets, ${readingCount(s)} readings, ${s.rows.length} rows`;
};
const row = (label: string, f: Figure): string =>
  `| ${label} | ${us(f.bare)} | ${us(f.runner)} | ${us(f.features)} | ${us(f.records)} | ${us(f.pipeline)} | ${us(f.pipeline24h)} | ${ratio(f.runner, f.bare).toFixed(2)}x | ${ratio(f.pipeline, f.bare).toFixed(2)}x | ${ratio(f.pipeline24h, f.bare).toFixed(2)}x |`;
const header = (first: string): string => `| ${first} | bare us/row | runner us/row | features us/row | records us/row | pipeline us/row | pipeline 24 h us/row | runner / bare | pipeline / bare | pipeline 24 h / bare |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|`;

const body = `Command: \`npm run bench:pipeline\` (bench/pipeline.ts against the built agent).
${runHeader(loadAtStart)}
${RUNS} runs per model and batch size; in each, all sides back to back in a rotating order; a ratio is the median of
the per-run ratios to the bare loop of the same run.

- bare: \`session.run\` on prebuilt float32 [B, F] tensors of the same rows, scores read out (whole batches only).
- runner: the agent's InferenceRunner.score on the same rows (tensor copy, run, shape checks, scores as numbers).
- features: the feature stage alone (AssetReader: reading checks, feature windows, the row) over the same readings.
- records: encoding (encodeDraft, what every outbox commit does) the records the pipeline commits over the replay
  with 1 h metric windows, per scored row: the agent's own records from the JSON their typed builders made
  (outbox/agent-records.ts, valid by construction, no schema pass); any other draft is validated by zod.
- pipeline: Pipeline.reading() per raw reading (CSV strings): reading checks, feature windows, batching at
  maxBatchRows = B, the run, alert policy, prediction batches and metric windows built and committed to the
  in-memory outbox with the feature-window and metric-window snapshots each commit carries (features/window-tail.ts,
  metrics/open-windows.ts; their SQLite write is bench:outbox's side of the cost, as the records'; only the warm-up
  run keeps the drafts, for the records side). Metric windows of 1 h (the agent's default metricsWindowSeconds: one window record per reading for
  hourly data) and of 24 h (the fleet configuration).

Headline: ${describe(headline)}.

${header('batch')}
${figures.map((f) => row(String(f.batch), f)).join('\n')}

- batch 64, azure-pdm-failure-24h 1.0.0, pipeline: ${ratioVerdict(ratio(at64.pipeline, at64.bare), GOAL, 'le')}; with 24 h metric windows: ${ratio(at64.pipeline24h, at64.bare).toFixed(2)}x; the inference module alone (runner): ${ratio(at64.runner, at64.bare).toFixed(2)}x.
- per-run pipeline/bare ratios at 64: ${at64.pipeline.map((x, i) => (x.usPerRow / at64.bare[i]!.usPerRow).toFixed(2)).join(', ')}

Every reference model the agent runs, batch 64:

${header('model')}
${perModel.map(([s, f]) => row(s.label === headline.label ? `**${s.label}** (headline)` : s.label, f)).join('\n')}

${others.map((s) => `- ${describe(s)}`).join('\n')}
`;
resultsSection('Agent inference pipeline vs bare onnxruntime (issue 9)', body);
process.stdout.write(`${body}\n`);

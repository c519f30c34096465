/**
 * `npm run bench:pipeline`: the agent's inference path against a bare onnxruntime loop on the same model,
 * the same rows and the same batch size, in one run (issue 9). Goal: <= 1.15x the bare cost per row at
 * batch 64.
 *
 * - bare: `session.run` on a prebuilt float32 [B, F] tensor of the feature rows, scores read out of
 *   the output; nothing else. The rows are the ones the agent's feature stage makes from the replay.
 * - runner: the agent's InferenceRunner.score on the same rows (copy into one tensor, run, shape
 *   checks, scores out): the inference module alone.
 * - features: the feature stage alone (AssetReader: reading checks, feature windows, the row) over the same readings.
- pipeline: Pipeline.reading() for every raw reading of the replay (CSV strings, as the replay source
 *   hands them over): reading checks, feature windows, batching, the run, alert policy, prediction
 *   and metric-window records validated and committed to an in-memory outbox. Storage is left out on
 *   purpose: SQLite commits are bench:outbox's figure.
 *
 * Reference model azure-pdm-failure-24h 1.0.0, Azure PdM machines 1-3 (2,160 hourly readings each).
 * Cost per row = wall time / rows scored. Each measurement pairs subject and bare back to back,
 * alternating which goes first; a ratio is the median of the per-pair ratios.
 * Env: PDM_BENCH_RUNS (default 9).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { pino } from 'pino';
import { loadModel, MemoryOutbox, systemClock, type LoadedModel, type RawReading } from '@pdm/agent';
// built agent parts the package index does not export (what runs on a device; see bench/outbox.ts)
import { AssetReader } from '../agent/dist/features/asset-reader.js';
import { fixedScoring, scorerFor } from '../agent/dist/inference/slots.js';
import { Counters } from '../agent/dist/metrics/counters.js';
import { MetricWindows } from '../agent/dist/metrics/metric-windows.js';
import { Pipeline } from '../agent/dist/pipeline.js';
import { parseEventTime } from '../agent/dist/sources/time.js';
import { azureTelemetry, referenceModelDir } from '../test/helpers/fleet.js';
import { loadNow, median, ratioVerdict, resultsSection, runHeader } from './results.js';

const RUNS = Number(process.env['PDM_BENCH_RUNS'] ?? 9);
const BATCHES = [1, 16, 64] as const;
const GOAL = 1.15;
const silent = pino({ level: 'silent' });

/** Readings of machines 1-3 as the replay source delivers them: event time and the CSV's strings. */
function readings(signals: readonly string[]): RawReading[][] {
  const [header, ...lines] = readFileSync(azureTelemetry, 'utf8').trim().split('\n');
  const cols = header!.split(',');
  const machine = cols.indexOf('machineID');
  const time = cols.indexOf('datetime');
  const byMachine = new Map<string, RawReading[]>();
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

/** The feature rows the agent makes from those readings. */
function featureRows(model: LoadedModel, machines: readonly RawReading[][]): Float32Array[] {
  const rows: Float32Array[] = [];
  for (const list of machines) {
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
  readonly rows: number;
}

async function timed(fn: () => Promise<number>): Promise<Sample> {
  const t0 = performance.now();
  const rows = await fn();
  return { usPerRow: ((performance.now() - t0) * 1000) / rows, rows };
}

/** Whole batches only, so every side runs exactly the same tensors. */
function batchesOf(rows: readonly Float32Array[], size: number): Float32Array[][] {
  const out: Float32Array[][] = [];
  for (let i = 0; i + size <= rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
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
  const scorer = scorerFor(model, systemClock, { cooldownMs: 6 * 3_600_000, criticalMargin: 0.5 });
  let rows = 0;
  for (const b of batches) rows += (await scorer.runner.score(b)).scores.length;
  return rows;
}

/** The feature stage alone: reading checks and feature windows over the same readings. */
function features(model: LoadedModel, machines: readonly RawReading[][]): Promise<number> {
  return Promise.resolve(featureRows(model, machines).length);
}

async function pipeline(model: LoadedModel, machines: readonly RawReading[][], size: number): Promise<number> {
  let rows = 0;
  for (const [i, list] of machines.entries()) {
    const assetId = `machine-${i + 1}`;
    const counters = new Counters();
    const outbox = new MemoryOutbox({ deviceId: 'bench', clock: systemClock });
    outbox.start();
    const p = new Pipeline({
      config: { assetId, maxBatchRows: size, windowMs: 3_600_000 },
      scoring: fixedScoring(scorerFor(model, systemClock, { cooldownMs: 6 * 3_600_000, criticalMargin: 0.5 })),
      windows: new MetricWindows({ windowMs: 3_600_000, assetId, model: model.ref }),
      counters,
      outbox,
      log: silent,
    });
    for (const r of list) await p.reading(r);
    await p.finish();
    if (counters.commitFailures > 0 || counters.inferenceErrors > 0) throw new Error(`pipeline: ${JSON.stringify(counters)}`);
    rows += counters.inferences;
  }
  return rows;
}

interface Figure {
  readonly batch: number;
  readonly bare: Sample[];
  readonly runner: Sample[];
  readonly features: Sample[];
  readonly pipeline: Sample[];
}

async function measure(model: LoadedModel, machines: readonly RawReading[][], rows: readonly Float32Array[], size: number): Promise<Figure> {
  const batches = batchesOf(rows, size);
  const width = model.card.featureSpec.features.length;
  const tensors = batches.map((b) => {
    const data = new Float32Array(size * width);
    b.forEach((row, i) => data.set(row, i * width));
    return data;
  });
  const fig: Figure = { batch: size, bare: [], runner: [], features: [], pipeline: [] };
  // warm-up: JIT, onnxruntime's first runs at this shape
  await bare(model, tensors, size);
  await runner(model, batches);
  await pipeline(model, machines, size);
  for (let i = 0; i < RUNS; i++) {
    const sides: [Sample[], () => Promise<number>][] = [
      [fig.bare, () => bare(model, tensors, size)],
      [fig.runner, () => runner(model, batches)],
      [fig.features, () => features(model, machines)],
      [fig.pipeline, () => pipeline(model, machines, size)],
    ];
    // rotate the order, so a change in the machine's load hits every side alike
    for (let k = 0; k < sides.length; k++) {
      const [into, fn] = sides[(i + k) % sides.length]!;
      into.push(await timed(fn));
    }
  }
  return fig;
}

const ratio = (s: readonly Sample[], b: readonly Sample[]): number => median(s.map((x, i) => x.usPerRow / b[i]!.usPerRow));
const us = (xs: readonly Sample[]): string => median(xs.map((x) => x.usPerRow)).toFixed(2);

const loadAtStart = loadNow();
const model = await loadModel(referenceModelDir);
const machines = readings(model.card.featureSpec.signals.map((s) => s.name));
const rows = featureRows(model, machines);
const figures: Figure[] = [];
for (const size of BATCHES) figures.push(await measure(model, machines, rows, size));
await model.session.release();

const at64 = figures.find((f) => f.batch === 64)!;
const body = `Command: \`npm run bench:pipeline\` (bench/pipeline.ts against the built agent).
${runHeader(loadAtStart)}
Model: azure-pdm-failure-24h 1.0.0 (${model.card.featureSpec.features.length} features); replay of Azure PdM machines 1-3, ${machines.reduce((n, m) => n + m.length, 0)} readings,
${rows.length} feature rows. ${RUNS} runs per batch size; bare, runner and pipeline back to back in a rotating order; a
ratio is the median of the per-run ratios to the bare loop of the same run.

- bare: \`session.run\` on prebuilt float32 [B, ${model.card.featureSpec.features.length}] tensors of the same rows, scores read out (whole batches only).
- runner: the agent's InferenceRunner.score on the same rows (tensor copy, run, shape checks, scores as numbers).
- features: the feature stage alone (AssetReader: reading checks, feature windows, the row) over the same readings.
- pipeline: Pipeline.reading() per raw reading (CSV strings): reading checks, feature windows, batching at
  maxBatchRows = B, the run, alert policy, prediction batches and hourly metric windows validated and
  committed to the in-memory outbox (SQLite is bench:outbox's figure).

| batch | bare us/row | runner us/row | features us/row | pipeline us/row | runner / bare | pipeline / bare |
|---:|---:|---:|---:|---:|---:|---:|
${figures.map((f) => `| ${f.batch} | ${us(f.bare)} | ${us(f.runner)} | ${us(f.features)} | ${us(f.pipeline)} | ${ratio(f.runner, f.bare).toFixed(2)}x | ${ratio(f.pipeline, f.bare).toFixed(2)}x |`).join('\n')}

- batch 64, pipeline: ${ratioVerdict(ratio(at64.pipeline, at64.bare), GOAL, 'le')}; the inference module alone (runner): ${ratio(at64.runner, at64.bare).toFixed(2)}x.
- per-run pipeline/bare ratios at 64: ${at64.pipeline.map((s, i) => (s.usPerRow / at64.bare[i]!.usPerRow).toFixed(2)).join(', ')}
`;
resultsSection('Agent inference pipeline vs bare onnxruntime (issue 9)', body);
process.stdout.write(`${body}\n`);

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PdmError, recordSchemas, type Alert, type MetricWindow, type PredictionBatch } from '@pdm/protocol';
import { systemClock } from './clock.js';
import { replayCsvSchema } from './config/schema.js';
import { loadModel, type LoadedModel } from './inference/model.js';
import { fixedScoring, scorerFor, type ScoringSet } from './inference/slots.js';
import { Counters } from './metrics/counters.js';
import { MetricWindows } from './metrics/metric-windows.js';
import { MemoryOutbox } from './outbox/memory-outbox.js';
import { Pipeline } from './pipeline.js';
import { ReplayCsvSource } from './sources/replay-csv.js';
import { FakeClock } from './testing/fake-clock.js';
import { silentLogger } from './testing/logger.js';
import { writeTinyModel, type TinyModelOptions } from './testing/tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-pipeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Replays `csv` (columns datetime,a,b) through the whole pipeline into a memory outbox. */
async function run(csv: string, model: TinyModelOptions, maxBatchRows = 4, events = '') {
  const modelDir = writeTinyModel(join(dir, `model-${n}`), model);
  const file = join(dir, `data-${n}.csv`);
  writeFileSync(file, csv);
  const eventsFile = join(dir, `events-${n++}.csv`);
  writeFileSync(eventsFile, `datetime,failure\n${events}`);
  const loaded = await loadModel(modelDir);
  const spec = loaded.card.featureSpec;
  const counters = new Counters();
  const outbox = new MemoryOutbox({ deviceId: 'edge-1', clock: systemClock });
  outbox.start();
  const pipeline = new Pipeline({
    config: { assetId: 'm1', maxBatchRows, windowMs: 4 * 3_600_000 },
    scoring: fixedScoring(scorerFor(loaded, systemClock, { cooldownMs: 2 * 3_600_000, criticalMargin: 0.5 })),
    windows: new MetricWindows({ windowMs: 4 * 3_600_000, assetId: 'm1', model: loaded.ref }),
    counters,
    outbox,
    log: silentLogger,
  });
  const source = new ReplayCsvSource({
    config: replayCsvSchema.parse({ type: 'replay-csv', file, timeColumn: 'datetime', eventsFiles: [{ file: eventsFile, type: 'failure' }] }),
    signals: () => spec.signals.map((s) => s.name),
    clock: new FakeClock(),
    log: silentLogger,
  });
  await source.start(pipeline);
  await source.done;
  await pipeline.finish(true);
  await loaded.session.release();
  const records = outbox.pending({ afterSeq: 0, limit: 10_000 }).map((e) => {
    const record = JSON.parse(e.payload.toString()) as Record<string, unknown>;
    // every committed record is valid on the wire
    expect(recordSchemas[e.kind].safeParse(record).success).toBe(true);
    return { kind: e.kind, record };
  });
  return { counters, records, outbox };
}

const hours = (rows: string[]) =>
  'datetime,a,b\n' + rows.map((r, i) => `2015-01-01 ${String(i).padStart(2, '0')}:00:00,${r}`).join('\n') + '\n';

describe('Pipeline: how far its commits go (a replay resumes after it)', () => {
  it('reports a reading only once it and every reading before it are committed, and never after a failed commit', async () => {
    const loaded = await loadModel(writeTinyModel(join(dir, 'model-progress'), { weights: [0, 0] }));
    const outbox = new MemoryOutbox({ deviceId: 'edge-1', clock: systemClock });
    outbox.start();
    const committedTimes = () => outbox.pending({ afterSeq: 0, limit: 10_000 }).filter((e) => e.kind === 'predictions')
      .flatMap((e) => (JSON.parse(e.payload.toString()) as PredictionBatch).predictions.map((p) => Date.parse(p.t)));
    const reports: { time: number; committed: number[] }[] = [];
    const pipeline = new Pipeline({
      config: { assetId: 'm1', maxBatchRows: 4, windowMs: 86_400_000 },
      scoring: fixedScoring(scorerFor(loaded, systemClock, { cooldownMs: 0, criticalMargin: 0.5 })),
      windows: new MetricWindows({ windowMs: 86_400_000, assetId: 'm1', model: loaded.ref }),
      counters: new Counters(), outbox, log: silentLogger,
      committedThrough: ({ time }) => reports.push({ time, committed: committedTimes() }),
    });
    const at = (h: number) => Date.UTC(2015, 0, 1, h);
    for (let h = 0; h < 8; h++) await pipeline.reading({ time: at(h), values: { a: '1', b: '1' } });
    // hours 0-1 fill the windows (nothing to commit); 2-5 wait in the batch until it is full at 5
    expect(reports.map((r) => new Date(r.time).getUTCHours())).toEqual([0, 1, 5]);
    for (const r of reports) expect(r.committed.filter((t) => t <= r.time)).toEqual(Array.from({ length: Math.max(0, new Date(r.time).getUTCHours() - 1) }, (_, i) => at(i + 2)));
    await pipeline.idle();
    expect(reports.at(-1)!.time).toBe(at(7));
    outbox.stop();
    await pipeline.reading({ time: at(8), values: { a: '1', b: '1' } });
    await pipeline.idle();
    await pipeline.finish(true);
    expect(reports.at(-1)!.time).toBe(at(7));
    await loaded.session.release();
  });

  it('a snapshot that cannot be built never reaches the source: the records are committed, the position stays', async () => {
    const loaded = await loadModel(writeTinyModel(join(dir, 'model-snapshot-throws'), { weights: [0, 0] }));
    const outbox = new MemoryOutbox({ deviceId: 'edge-1', clock: systemClock });
    outbox.start();
    const counters = new Counters();
    const reports: number[] = [];
    const pipeline = new Pipeline({
      config: { assetId: 'm1', maxBatchRows: 1, windowMs: 86_400_000 },
      scoring: fixedScoring(scorerFor(loaded, systemClock, { cooldownMs: 0, criticalMargin: 0.5 })),
      windows: new MetricWindows({ windowMs: 86_400_000, assetId: 'm1', model: loaded.ref }),
      counters, outbox, log: silentLogger,
      committedThrough: ({ time }) => reports.push(time),
      tail: {
        restore: () => undefined,
        snapshot: () => {
          throw new PdmError('STATE_INVALID', 'no snapshot of these windows');
        },
      },
    });
    const at = (h: number) => Date.UTC(2015, 0, 1, h);
    for (let h = 0; h < 4; h++) await pipeline.reading({ time: at(h), values: { a: '1', b: '1' } });
    await pipeline.finish(true);
    expect(outbox.pending({ afterSeq: 0, limit: 100 }).filter((e) => e.kind === 'predictions')).toHaveLength(2);
    // the first commit of a snapshot failed: no position past it (a restart replays those rows)
    expect(reports).toEqual([at(0), at(1)]);
    expect(counters.commitFailures).toBe(0);
    await loaded.session.release();
  });
});

/** Batches of 2 rows, 1 h metric windows, a memory outbox: what the tests of refused records share. */
function hourlyPipeline(loaded: LoadedModel): { outbox: MemoryOutbox; counters: Counters; pipeline: Pipeline } {
  const outbox = new MemoryOutbox({ deviceId: 'edge-1', clock: systemClock });
  outbox.start();
  const counters = new Counters();
  const pipeline = new Pipeline({
    config: { assetId: 'm1', maxBatchRows: 2, windowMs: 3_600_000 },
    scoring: fixedScoring(scorerFor(loaded, systemClock, { cooldownMs: 0, criticalMargin: 0.5 })),
    windows: new MetricWindows({ windowMs: 3_600_000, assetId: 'm1', model: loaded.ref }),
    counters, outbox, log: silentLogger,
  });
  return { outbox, counters, pipeline };
}

describe('Pipeline: records no schema can hold', () => {
  it('counts a record its builder refuses as a failed commit and keeps going', async () => {
    const loaded = await loadModel(writeTinyModel(join(dir, 'model-far-future'), { weights: [0, 0], bias: -1 }));
    const { outbox, counters, pipeline } = hourlyPipeline(loaded);
    // the last hours a record time can hold (year 9999): the window of the last one would end in year 10000
    const lastHour = Date.UTC(9999, 11, 31, 23);
    for (let h = 3; h >= 0; h--) await pipeline.reading({ time: lastHour - h * 3_600_000, values: { a: '1', b: '1' } });
    await pipeline.finish(true);
    expect(counters.inferences).toBe(2);
    expect(counters.predictions).toBe(2);
    expect(counters.commitFailures).toBe(1);
    const kinds = outbox.pending({ afterSeq: 0, limit: 100 }).map((e) => e.kind);
    expect(kinds).toEqual(['metrics', 'metrics', 'predictions', 'metrics']);
    await loaded.session.release();
  });
  it('drops a metric window its builder refuses alone: the readings after it are still committed', async () => {
    const loaded = await loadModel(writeTinyModel(join(dir, 'model-year-zero'), { weights: [0, 0], bias: -1 }));
    const { outbox, counters, pipeline } = hourlyPipeline(loaded);
    // the first hour a record time can hold (year 0); the two readings before it fill the feature
    // windows (no row) in a metric window that starts before year 0, whose record no schema can hold
    const yearZero = Date.parse('0000-01-01T00:00:00.000Z');
    const times = [yearZero - 3_600_000, yearZero - 1_800_000, ...Array.from({ length: 6 }, (_, h) => yearZero + h * 3_600_000)];
    for (const time of times) await pipeline.reading({ time, values: { a: '1', b: '1' } });
    await pipeline.finish(true);
    expect(counters.commitFailures).toBe(1);
    expect(counters.inferences).toBe(6);
    expect(counters.predictions).toBe(6);
    const committed = outbox.pending({ afterSeq: 0, limit: 100 }).map((e) => ({ kind: e.kind, record: JSON.parse(e.payload.toString()) as Record<string, unknown> }));
    const predicted = committed.filter((r) => r.kind === 'predictions').flatMap((r) => (r.record as PredictionBatch).predictions.map((p) => Date.parse(p.t)));
    expect(predicted).toEqual(times.slice(2));
    // every window from year 0 on, one per hour of readings
    const windows = committed.filter((r) => r.kind === 'metrics').map((r) => Date.parse((r.record as MetricWindow).windowStart));
    expect(windows).toEqual(times.slice(2));
    await loaded.session.release();
  });
  it('loses only the candidate\'s records when its builder refuses the shadow batch', async () => {
    const loaded = await loadModel(writeTinyModel(join(dir, 'model-active'), { weights: [0, 0], bias: 5 }));
    const candidateModel = await loadModel(writeTinyModel(join(dir, 'model-candidate'), { weights: [0, 0], bias: -1 }));
    const policy = { cooldownMs: 0, criticalMargin: 0.5 };
    // a horizon no prediction batch can carry (the card schema would refuse it at load; set after it)
    const spec = { ...candidateModel.card.featureSpec, horizonHours: 24 * 365 + 1 };
    const candidate = { ...scorerFor(candidateModel, systemClock, policy), model: { ...candidateModel, card: { ...candidateModel.card, featureSpec: spec } } };
    const set: ScoringSet = { generation: 0, active: scorerFor(loaded, systemClock, policy), shadow: candidate };
    const outbox = new MemoryOutbox({ deviceId: 'edge-1', clock: systemClock });
    outbox.start();
    const counters = new Counters();
    const pipeline = new Pipeline({
      config: { assetId: 'm1', maxBatchRows: 2, windowMs: 3_600_000 },
      scoring: { current: () => set, adopted: () => undefined },
      windows: new MetricWindows({ windowMs: 3_600_000, assetId: 'm1', model: loaded.ref }),
      counters, outbox, log: silentLogger,
    });
    for (let h = 0; h < 6; h++) await pipeline.reading({ time: Date.UTC(2015, 0, 1, h), values: { a: '1', b: '1' } });
    await pipeline.finish(true);
    // rows at hours 2-5 in two runs: each loses its shadow batch, never the active model's records
    expect(counters.commitFailures).toBe(2);
    expect(counters.predictions).toBe(4);
    expect(counters.alerts).toBe(4);
    const committed = outbox.pending({ afterSeq: 0, limit: 100 }).map((e) => ({ kind: e.kind, record: JSON.parse(e.payload.toString()) as Record<string, unknown> }));
    const batches = committed.filter((r) => r.kind === 'predictions').map((r) => r.record as PredictionBatch);
    expect(batches.map((b) => [b.role, b.predictions.length])).toEqual([['active', 2], ['active', 2]]);
    expect(committed.filter((r) => r.kind === 'alerts')).toHaveLength(4);
    await loaded.session.release();
    await candidateModel.session.release();
  });
});

describe('Pipeline: replay -> features -> ONNX -> outbox', () => {
  it('counts bad readings by reason, keeps them out of the model, and keeps going', async () => {
    const rows = ['1,1', 'NaN,1', '2,1', ',1', '3,1', 'abc,1', '4,1', '1e9,1', '5,1', '6', '7,1', 'Infinity,1', '8,1'];
    const { counters, records } = await run(hours(rows), { weights: [0, 0] });
    expect(counters.readings).toBe(13);
    expect(counters.rejectedReadings).toEqual({ 'non-finite': 2, missing: 2, 'wrong-type': 1, 'out-of-range': 1 });
    // 7 good readings, the first prediction needs 3: 5 predictions, all of them at good readings' times
    expect(counters.predictions).toBe(5);
    const predictions = records.filter((r) => r.kind === 'predictions').flatMap((r) => (r.record as PredictionBatch).predictions);
    expect(predictions.map((p) => p.t.slice(11, 13))).toEqual(['04', '06', '08', '10', '12']);
    expect(predictions.every((p) => p.score === 0.5)).toBe(true);
  });

  it('batches rows up to maxBatchRows per run and per prediction record', async () => {
    const rows = Array.from({ length: 12 }, (_, i) => `${i},0`);
    const { records } = await run(hours(rows), { weights: [0, 0], bias: -1 }, 4);
    const sizes = records.filter((r) => r.kind === 'predictions').map((r) => (r.record as PredictionBatch).predictions.length);
    // 10 rows scored in runs of 4, across metric window edges; each window's record follows its last rows
    expect(sizes).toEqual([4, 4, 2]);
    const kinds = records.map((r) => r.kind);
    expect(kinds).toEqual(['predictions', 'metrics', 'predictions', 'metrics', 'predictions', 'metrics']);
  });

  it('raises alerts on the rising edge and after the cooldown, and writes metric windows per event-time window', async () => {
    // score = sigmoid(b): b = 5 passes 0.5 (critical above 0.75), b = -5 does not
    const b = [-5, -5, 5, 5, 5, 5, -5, 5, -5, -5, -5, -5];
    const { records, counters } = await run(hours(b.map((v) => `0,${v}`)), { weights: [0, 1] }, 3);
    const alerts = records.filter((r) => r.kind === 'alerts').map((r) => r.record as Alert);
    // rising edge at 02:00, re-raised after 2 h at 04:00, rising again at 07:00
    expect(alerts.map((a) => [a.windowEnd.slice(11, 13), a.severity])).toEqual([
      ['02', 'critical'],
      ['04', 'critical'],
      ['07', 'critical'],
    ]);
    expect(counters.alerts).toBe(3);
    const windows = records.filter((r) => r.kind === 'metrics').map((r) => r.record as MetricWindow);
    expect(windows.map((w) => [w.windowStart.slice(11, 16), w.windowEnd.slice(11, 16), w.readings, w.inferences, w.alerts])).toEqual([
      ['00:00', '04:00', 4, 2, 1],
      ['04:00', '08:00', 4, 4, 2],
      ['08:00', '12:00', 4, 4, 0],
    ]);
    // a run's latency counts in the window of its last row: runs ended at 04, 07 and 10 (batches of 3), and at 11 (end)
    expect(windows.map((w) => w.latencyMs !== undefined)).toEqual([false, true, true]);
    for (const w of windows.slice(1)) expect(w.latencyMs!.max).toBeGreaterThanOrEqual(w.latencyMs!.p50);
  });

  it('counts non-finite model outputs as inference errors and never publishes them', async () => {
    const { counters, records } = await run(hours(['1,0', '1,0', '1,0', '-1,0', '1,0']), { weights: [Infinity, 0], activation: 'identity' });
    expect(counters.inferences).toBe(3);
    expect(counters.inferenceErrors).toBe(3);
    expect(counters.predictions).toBe(0);
    expect(records.filter((r) => r.kind === 'predictions')).toEqual([]);
    const windows = records.filter((r) => r.kind === 'metrics').map((r) => r.record as MetricWindow);
    expect(windows.map((w) => w.inferenceErrors)).toEqual([2, 1]);
  });

  it('commits machine events in time order between the predictions around them', async () => {
    const rows = Array.from({ length: 6 }, () => '0,0');
    const { records, counters } = await run(hours(rows), { weights: [0, 0], bias: -1 }, 100, '2015-01-01 03:00:00,comp2\n');
    expect(counters.events).toBe(1);
    const sequence = records.filter((r) => r.kind !== 'metrics').map((r) =>
      r.kind === 'events' ? `event@${(r.record as { at: string }).at.slice(11, 13)}` : `predictions@${(r.record as PredictionBatch).predictions.map((p) => p.t.slice(11, 13)).join(',')}`,
    );
    // the event flushes the rows before it; rows keep batching across the 04:00 metric window edge
    expect(sequence).toEqual(['predictions@02', 'event@03', 'predictions@03,04,05']);
  });
});

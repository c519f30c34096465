/**
 * The feature windows across a restart, on a whole agent runtime (real SQLite outbox, real onnxruntime,
 * azure-pdm-failure-24h 1.0.0 with 24-reading windows on the Azure telemetry): an agent interrupted after
 * row k and started again on the same data directory publishes, for every row after k, the same
 * predictions (times and scores) as an uninterrupted run, the first rows after the resume included, and
 * none twice. A model whose feature spec differs starts from empty windows instead of a foreign tail.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { predictionBatchSchema } from '@pdm/protocol';
import { systemClock } from './clock.js';
import { agentConfigSchema, type AgentConfig } from './config/schema.js';
import { createRuntime } from './runtime.js';
import { REPLAY_POSITION_FILE } from './sources/replay-position.js';
import { TestBroker } from './testing/broker.js';
import { within } from './testing/waiting.js';
import { azureModels, telemetry } from './updates/device-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-windows-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const azureDir = new URL('../../models/data/azure-pdm/', import.meta.url).pathname;
/** Rows of machine 5 replayed in all; the interrupted runs stop after K of them (not a batch boundary). */
const ROWS = 160;
const K = 70;
const HOUR = 3_600_000;
/** The time of machine 5's row i (1-based): the telemetry is hourly from 2015-01-01 06:00. */
const rowTime = (i: number): number => Date.UTC(2015, 0, 1, 6) + (i - 1) * HOUR;

interface Run {
  readonly maxRows: number;
  /** Rows per inference batch (the agent's default is 64). */
  readonly batch?: number;
  readonly model?: string;
  readonly logFiles?: boolean;
}

function config(url: string, dataDir: string, extra: Run): AgentConfig {
  return agentConfigSchema.parse({
    deviceId: 'edge-w', assetId: 'machine-5', brokerUrl: url, dataDir, model: extra.model ?? join(azureModels, '1.0.0'),
    ...(extra.batch === undefined ? {} : { inference: { maxBatchRows: extra.batch } }),
    source: {
      type: 'replay-csv', file: telemetry, filter: 'machineID=5', timeColumn: 'datetime', maxRows: extra.maxRows,
      ...(extra.logFiles === true
        ? { logFiles: [{ file: join(azureDir, 'PdM_errors.csv'), kind: 'error' }, { file: join(azureDir, 'PdM_maint.csv'), kind: 'maintenance' }] }
        : {}),
    },
  });
}

/** Runs the agent until its source is over and everything is delivered; returns its log lines. */
async function runToEnd(cfg: AgentConfig): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
  const runtime = await createRuntime(cfg, { clock: systemClock, log: pino({ level: 'info' }, sink) });
  await runtime.agent.start();
  await within(runtime.sourceDelivered, 'source delivered');
  await runtime.agent.stop();
  return lines;
}

async function broker(): Promise<TestBroker> {
  const b = new TestBroker();
  await b.start();
  cleanup.push(() => b.stop());
  return b;
}

/** Every prediction batch that reached the broker, in the order published: its [time, score] pairs. */
const batches = (b: TestBroker): [number, number][][] =>
  b.payloads('/up/predictions').map((p) => predictionBatchSchema.parse(p).predictions.map((x): [number, number] => [Date.parse(x.t), x.score]));
const predictions = (b: TestBroker): [number, number][] => batches(b).flat();

/** The uninterrupted run of each batch size, once for the file. */
const wholeRuns = new Map<number, Promise<TestBroker>>();
function whole(batch: number): Promise<TestBroker> {
  let run = wholeRuns.get(batch);
  if (run === undefined) {
    run = (async () => {
      const b = await broker();
      await runToEnd(config(b.url, join(dir, `whole-${batch}`), { maxRows: ROWS, batch }));
      return b;
    })();
    wholeRuns.set(batch, run);
  }
  return run;
}

describe('feature windows across a restart', () => {
  // one row per batch: onnxruntime's float32 scores of a row differ in the last bits with the size of the
  // batch it runs in, and batch boundaries after a restart are not those of one long run
  it('an agent stopped after row k and started again publishes the same batches, times and scores, as an uninterrupted run', async () => {
    const expected = batches(await whole(1));
    // 24-reading windows: rows 24..ROWS make a prediction each
    expect(expected.flat().map(([t]) => t)).toEqual(Array.from({ length: ROWS - 23 }, (_, i) => rowTime(24 + i)));
    const b = await broker();
    const dataDir = join(dir, 'stopped');
    await runToEnd(config(b.url, dataDir, { maxRows: K, batch: 1 }));
    const before = batches(b).length;
    const lines = await runToEnd(config(b.url, dataDir, { maxRows: ROWS - K, batch: 1 }));
    expect(lines.find((l) => l['msg'] === 'feature windows restored')).toMatchObject({ readings: 24, through: new Date(rowTime(K)).toISOString() });
    const after = batches(b).slice(before);
    // the first row after the resume is scored at once, from the restored windows
    expect(after[0]).toEqual([[rowTime(K + 1), expected[K + 1 - 24]![0]![1]]]);
    expect(after).toEqual(expected.slice(K + 1 - 24));
    expect(batches(b)).toEqual(expected);
  });

  it('after a kill, where the position file lags the last commit, resumes from the commit: no row twice, none lost from a window', async () => {
    const expected = predictions(await whole(64));
    const b = await broker();
    const dataDir = join(dir, 'lagging');
    // K is no batch boundary: the last commit before the stop holds a part batch
    await runToEnd(config(b.url, dataDir, { maxRows: K }));
    // the file is written at most once a second: after a SIGKILL it may name a row well before the last commit
    const file = join(dataDir, REPLAY_POSITION_FILE);
    const position = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...position, time: new Date(rowTime(K - 30)).toISOString() }));
    const lines = await runToEnd(config(b.url, dataDir, { maxRows: ROWS - K }));
    expect(lines.find((l) => l['msg'] === 'replay position taken from the last outbox commit')).toMatchObject({
      file: new Date(rowTime(K - 30)).toISOString(), committed: new Date(rowTime(K)).toISOString(),
    });
    expect(lines.find((l) => l['msg'] === 'replay resumed')).toMatchObject({ skippedRows: K, row: K + 1 });
    const actual = predictions(b);
    expect(actual.map(([t]) => t)).toEqual(expected.map(([t]) => t));
    // batches of 64 from another first row: the same features, scores equal but for float32 rounding in the run
    actual.forEach(([, score], i) => expect(Math.abs(score - expected[i]![1])).toBeLessThan(1e-6));
  });

  it('a model with another feature spec at the restart starts from empty windows, not from the tail of the old spec', async () => {
    const b = await broker();
    const dataDir = join(dir, 'updated');
    await runToEnd(config(b.url, dataDir, { maxRows: K }));
    const lines = await runToEnd(config(b.url, dataDir, { maxRows: 40, model: join(azureModels, '2.0.0'), logFiles: true }));
    expect(lines.find((l) => l['msg'] === 'feature-window snapshot ignored; windows start empty')).toMatchObject({ why: 'taken for another feature spec' });
    expect(lines.find((l) => l['msg'] === 'feature windows restored')).toBeUndefined();
    const v2 = b.payloads('/up/predictions').map((p) => predictionBatchSchema.parse(p)).filter((p) => p.model.version === '2.0.0');
    // its own windows fill from the first row after the resume: 24 readings before its first prediction
    expect(Date.parse(v2[0]!.predictions[0]!.t)).toBe(rowTime(K + 24));
  });
});

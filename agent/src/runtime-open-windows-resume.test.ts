/**
 * The metric windows and the shadow comparison windows across a restart, on a whole agent runtime (real
 * SQLite outbox, real onnxruntime, azure-pdm-failure-24h 1.0.0 active and 1.3.0-noisy in shadow, 6-hour
 * windows on machine 5's telemetry): an agent killed at several points (mid-window after a prediction,
 * right after a metric window's record, right after a comparison window's record), or stopped mid-window,
 * and started again each time on the same data directory publishes the same metric windows (but for their
 * latencies: they time each process's runs) and the same comparison windows, each once, as an
 * uninterrupted run. Without the snapshot of the open windows a kill loses the readings of the open
 * window before it and a stop publishes it early, with part of its readings.
 *
 * A kill is simulated by copying the data directory from inside the outbox's commit listener, i.e. right
 * after a transaction, before anything else runs: the copy holds what a SIGKILL at that point leaves.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { comparisonWindowSchema, metricWindowSchema } from '@pdm/protocol';
import { systemClock } from './clock.js';
import { agentConfigSchema, type AgentConfig } from './config/schema.js';
import { createRuntime } from './runtime.js';
import type { OutboxEntry } from './outbox/outbox.js';
import { TestBroker, startTestBroker } from './testing/broker.js';
import { within } from './testing/waiting.js';
import { azureModels, telemetry } from './updates/device-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-open-windows-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Scores pass the threshold at rows 165-197: alerts (active) and would-be alerts (candidate) every 6 h of cooldown. */
const ROWS = 200;
const HOUR = 3_600_000;
/** The time of machine 5's row i (1-based): hourly from 2015-01-01 06:00, so a 6-hour window starts at rows 1, 7, 13, ... */
const rowTime = (i: number): number => Date.UTC(2015, 0, 1, 6) + (i - 1) * HOUR;

/** Machine 5's first ROWS readings: the input ends there in every run. */
const data = join(dir, 'machine-5.csv');
{
  const lines = readFileSync(telemetry, 'utf8').split('\n');
  writeFileSync(data, [lines[0], ...lines.slice(1).filter((l) => l.split(',')[1] === '5').slice(0, ROWS)].join('\n') + '\n');
}

/** A data directory whose model store runs 1.3.0-noisy in shadow from the first row (as a committed shadow deployment leaves it). */
function seeded(name: string): string {
  const dataDir = join(dir, name);
  const versions = join(dataDir, 'models', 'versions');
  mkdirSync(versions, { recursive: true });
  cpSync(join(azureModels, '1.3.0-noisy'), join(versions, 'noisy'), { recursive: true });
  const model = (version: string) => ({ name: 'azure-pdm-failure-24h', version });
  writeFileSync(join(dataDir, 'models', 'state.json'), JSON.stringify({
    schemaVersion: 1,
    active: { kind: 'config', model: model('1.0.0') },
    shadow: { kind: 'store', dir: 'noisy', model: model('1.3.0-noisy'), release: 1, mode: 'shadow', deploymentId: 'shadow-1' },
  }));
  return dataDir;
}

function config(url: string, dataDir: string, file = data): AgentConfig {
  return agentConfigSchema.parse({
    deviceId: 'edge-o', assetId: 'machine-5', brokerUrl: url, dataDir, model: join(azureModels, '1.0.0'),
    // one row per batch: onnxruntime's float32 scores of a row differ in the last bits with the size of its batch
    inference: { maxBatchRows: 1 },
    metricsWindowSeconds: 6 * 3600,
    source: { type: 'replay-csv', file, timeColumn: 'datetime' },
  });
}

/** The same rows with a row of no time after row 40 (a blank time column): counted, rejected as missing, in row 40's window. */
const untimed = join(dir, 'machine-5-untimed.csv');
{
  const lines = readFileSync(data, 'utf8').split('\n');
  const row40 = lines[40]!.split(',');
  writeFileSync(untimed, [...lines.slice(0, 41), ['', ...row40.slice(1)].join(','), ...lines.slice(41)].join('\n'));
}

/** The same rows with a row of no time after row 42, the last row of its 6-hour window: counted in that window. */
const untimedAtEnd = join(dir, 'machine-5-untimed-end.csv');
{
  const lines = readFileSync(data, 'utf8').split('\n');
  const row42 = lines[42]!.split(',');
  writeFileSync(untimedAtEnd, [...lines.slice(0, 43), ['', ...row42.slice(1)].join(','), ...lines.slice(43)].join('\n'));
}

interface Kill {
  readonly at: (entries: readonly OutboxEntry[]) => boolean;
  readonly into: string;
  lastSeq?: number;
}

/**
 * Runs the agent on `dataDir` until its input ends and everything is delivered, or, with `stopAt`, stops it
 * right after the first commit that matches; returns its log lines. `kill`: copies the data directory right
 * after the first commit it picks, as a SIGKILL there leaves it, and tells the last seq committed then.
 */
async function run(url: string, dataDir: string, opts: { kill?: Kill; stopAt?: Kill['at']; file?: string } = {}): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
  const runtime = await createRuntime(config(url, dataDir, opts.file), { clock: systemClock, log: pino({ level: 'info' }, sink) });
  const { kill, stopAt } = opts;
  let stopped: Promise<void> | undefined;
  const off = runtime.outbox.onCommit((entries) => {
    if (kill !== undefined && kill.lastSeq === undefined && kill.at(entries)) {
      // the shared-memory index is rebuilt from the WAL by the next process to open the file
      cpSync(dataDir, kill.into, { recursive: true, filter: (f) => !f.endsWith('-shm') });
      kill.lastSeq = runtime.outbox.stats().lastSeq;
    }
    if (stopAt !== undefined && stopped === undefined && stopAt(entries)) {
      stopped = new Promise((resolve) => setImmediate(resolve)).then(() => runtime.agent.stop());
    }
  });
  await runtime.agent.start();
  if (stopAt === undefined) {
    await within(runtime.sourceDelivered, 'source delivered');
    await runtime.agent.stop();
  } else {
    await within(runtime.sourceOutcome, 'source stopped');
    await stopped;
  }
  off();
  return lines;
}

const broker = (): Promise<TestBroker> => startTestBroker((stop) => cleanup.push(stop));

interface Published {
  readonly seq: number;
  readonly kind: 'metrics' | 'comparisons';
  readonly record: unknown;
}

/** The metric windows (without their latencies) and comparison windows that reached the broker. */
function published(b: TestBroker): Published[] {
  const metrics = b.payloads('/up/metrics').map((p) => {
    const { seq, deviceId: _, latencyMs: __, ...record } = metricWindowSchema.parse(p);
    return { seq, kind: 'metrics' as const, record };
  });
  const comparisons = b.payloads('/up/comparisons').map((p) => {
    const { seq, deviceId: _, ...record } = comparisonWindowSchema.parse(p);
    return { seq, kind: 'comparisons' as const, record };
  });
  return [...metrics, ...comparisons];
}

/**
 * What the controller keeps of the records published by runs killed after committing seq `lastSeq` (what
 * they published after it is not in the copy the next run starts from) and by the others: one per seq.
 */
function stored(runs: readonly { b: TestBroker; lastSeq?: number }[], kind: Published['kind']): unknown[] {
  const bySeq = new Map<number, Published>();
  for (const { b, lastSeq } of runs) {
    for (const p of published(b)) if (p.kind === kind && p.seq <= (lastSeq ?? Number.MAX_SAFE_INTEGER)) bySeq.set(p.seq, p);
  }
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq).map((p) => p.record);
}

/** The uninterrupted run's records, once for the file. */
let wholeRun: Promise<TestBroker> | undefined;
function whole(): Promise<TestBroker> {
  wholeRun ??= (async () => {
    const b = await broker();
    await run(b.url, seeded('whole'));
    return b;
  })();
  return wholeRun;
}

const predictionAt = (row: number) => (entries: readonly OutboxEntry[]): boolean =>
  entries.some((e) => e.kind === 'predictions' && e.payload.toString('utf8').includes(`"t":"${new Date(rowTime(row)).toISOString()}"`));
const recordOf = (kind: OutboxEntry['kind']) => (entries: readonly OutboxEntry[]): boolean => entries.some((e) => e.kind === kind);

describe('metric and comparison windows across a restart', { timeout: 240_000 }, () => {
  it('the uninterrupted run publishes 6-hour metric windows of every reading and comparison windows of every scored row', async () => {
    const b = await whole();
    const metrics = stored([{ b }], 'metrics') as { readings: number; windowStart: string }[];
    // 33 windows of 6 readings, and rows 199-200 in the last one
    expect(metrics.map((m) => m.readings)).toEqual([...Array.from({ length: 33 }, () => 6), 2]);
    const comparisons = stored([{ b }], 'comparisons') as { n: number; candidateAlerts: number; activeAlerts: number }[];
    // rows 24..ROWS are scored (24-reading windows)
    expect(comparisons.reduce((n, c) => n + c.n, 0)).toBe(ROWS - 23);
    // the candidate's alert policy (cooldown) decides windows after row 165
    expect(comparisons.reduce((n, c) => n + c.candidateAlerts, 0)).toBeGreaterThan(1);
  });

  it('an agent killed mid-window, right after a metric window, right after a comparison window and within an alert cooldown publishes the same windows, each once', async () => {
    const expected = await whole();
    const kills: Kill[] = [
      { at: predictionAt(40), into: join(dir, 'kill-1') },
      { at: recordOf('metrics'), into: join(dir, 'kill-2') },
      { at: recordOf('comparisons'), into: join(dir, 'kill-3') },
      // 2015-01-08 09:00, within the candidate's cooldown (it passes from 01-07 20:00 on, raising every 6 h):
      // its alert state must go on, not raise again at 10:00
      { at: predictionAt(172), into: join(dir, 'kill-4') },
    ];
    const runs: { b: TestBroker; lastSeq?: number }[] = [];
    let dataDir = seeded('killed');
    for (const kill of kills) {
      const b = await broker();
      await run(b.url, dataDir, { kill });
      expect(kill.lastSeq).toBeDefined();
      runs.push({ b, lastSeq: kill.lastSeq });
      dataDir = kill.into;
    }
    const last = await broker();
    const lines = await run(last.url, dataDir);
    runs.push({ b: last });
    expect(lines.find((l) => l['msg'] === 'metric windows restored')).toBeDefined();
    expect(stored(runs, 'metrics')).toEqual(stored([{ b: expected }], 'metrics'));
    expect(stored(runs, 'comparisons')).toEqual(stored([{ b: expected }], 'comparisons'));
  });

  it('an agent killed right after the last row\'s commit publishes the last windows on the restart that has nothing left to replay', async () => {
    const expected = await whole();
    const kill: Kill = { at: predictionAt(ROWS), into: join(dir, 'kill-last') };
    const first = await broker();
    await run(first.url, seeded('killed-last'), { kill });
    expect(kill.lastSeq).toBeDefined();
    const second = await broker();
    const lines = await run(second.url, kill.into);
    expect(lines.find((l) => l['msg'] === 'metric windows restored')).toMatchObject({ metricWindows: 1, comparisonWindows: 1 });
    const runs = [{ b: first, lastSeq: kill.lastSeq }, { b: second }];
    expect(stored(runs, 'metrics')).toEqual(stored([{ b: expected }], 'metrics'));
    expect(stored(runs, 'comparisons')).toEqual(stored([{ b: expected }], 'comparisons'));
  });

  it('a row of no time right after the reading mark is counted once after a kill there', async () => {
    const expected = await broker();
    await run(expected.url, seeded('untimed-whole'), { file: untimed });
    const windows = stored([{ b: expected }], 'metrics') as { readings: number; rejectedReadings: Record<string, number> }[];
    expect(windows[6]).toMatchObject({ readings: 7, rejectedReadings: { missing: 1 } });
    const kill: Kill = { at: predictionAt(40), into: join(dir, 'untimed-kill') };
    const first = await broker();
    await run(first.url, seeded('untimed-killed'), { kill, file: untimed });
    const second = await broker();
    await run(second.url, kill.into, { file: untimed });
    const runs = [{ b: first, lastSeq: kill.lastSeq }, { b: second }];
    expect(stored(runs, 'metrics')).toEqual(windows);
    expect(stored(runs, 'comparisons')).toEqual(stored([{ b: expected }], 'comparisons'));
  });

  it('a row of no time after the last row of a window is counted once after a kill at that window\'s metrics commit', async () => {
    const expected = await broker();
    await run(expected.url, seeded('untimed-end-whole'), { file: untimedAtEnd });
    const windows = stored([{ b: expected }], 'metrics') as { readings: number; rejectedReadings: Record<string, number> }[];
    expect(windows[6]).toMatchObject({ readings: 7, rejectedReadings: { missing: 1 } });
    // row 43's reading closes the window of rows 37-42 and the row of no time: the mark counts that row
    const windowStart = `"windowStart":"${new Date(rowTime(37)).toISOString()}"`;
    const kill: Kill = { at: (entries) => entries.some((e) => e.kind === 'metrics' && e.payload.toString('utf8').includes(windowStart)), into: join(dir, 'untimed-end-kill') };
    const first = await broker();
    await run(first.url, seeded('untimed-end-killed'), { kill, file: untimedAtEnd });
    expect(kill.lastSeq).toBeDefined();
    const second = await broker();
    await run(second.url, kill.into, { file: untimedAtEnd });
    const runs = [{ b: first, lastSeq: kill.lastSeq }, { b: second }];
    expect(stored(runs, 'metrics')).toEqual(windows);
  });

  it('comparison windows of the same models under another deployment are published as that deployment\'s, not taken over', async () => {
    const kill: Kill = { at: predictionAt(40), into: join(dir, 'kill-redeployed') };
    const first = await broker();
    await run(first.url, seeded('redeployed'), { kill });
    // the copy left by the kill runs the same candidate under a new deployment
    const state = JSON.parse(readFileSync(join(kill.into, 'models', 'state.json'), 'utf8')) as { shadow: Record<string, unknown> };
    writeFileSync(join(kill.into, 'models', 'state.json'), JSON.stringify({ ...state, shadow: { ...state.shadow, deploymentId: 'shadow-2' } }));
    const second = await broker();
    const lines = await run(second.url, kill.into);
    expect(lines.find((l) => l['msg'] === 'comparison windows of other models published')).toMatchObject({ windows: 1 });
    const comparisons = published(second).filter((p) => p.kind === 'comparisons' && p.seq > kill.lastSeq!).map((p) => p.record as { deploymentId?: string; windowStart: string });
    // rows 37-40 under the deployment that scored them; the new deployment's windows start empty
    expect(comparisons.find((c) => c.windowStart === new Date(rowTime(37)).toISOString() && c.deploymentId === 'shadow-1')).toMatchObject({ n: 4 });
    expect(comparisons.filter((c) => c.deploymentId === 'shadow-1')).toHaveLength(1);
  });

  it('comparison windows of a candidate that no longer runs at the restart are published, not dropped', async () => {
    const kill: Kill = { at: predictionAt(40), into: join(dir, 'kill-unshadowed') };
    const first = await broker();
    await run(first.url, seeded('unshadowed'), { kill });
    // the copy left by the kill runs without the candidate (as after its deployment ended)
    writeFileSync(join(kill.into, 'models', 'state.json'), JSON.stringify({
      schemaVersion: 1, active: { kind: 'config', model: { name: 'azure-pdm-failure-24h', version: '1.0.0' } },
    }));
    const second = await broker();
    const lines = await run(second.url, kill.into);
    expect(lines.find((l) => l['msg'] === 'comparison windows of other models published')).toMatchObject({ windows: 1 });
    // the records committed before the kill may be sent again: only the new ones
    const comparisons = published(second).filter((p) => p.kind === 'comparisons' && p.seq > kill.lastSeq!).map((p) => p.record);
    // rows 37-40 of the window the kill left open, by the pair and deployment that scored them
    expect(comparisons).toEqual([expect.objectContaining({
      windowStart: new Date(rowTime(37)).toISOString(), n: 4, candidate: { name: 'azure-pdm-failure-24h', version: '1.3.0-noisy' }, deploymentId: 'shadow-1',
    })]);
  });

  it('an agent stopped mid-window keeps its windows open and, started again, publishes the same windows, each once', async () => {
    const expected = await whole();
    const dataDir = seeded('stopped');
    const first = await broker();
    const stopLines = await run(first.url, dataDir, { stopAt: predictionAt(63) });
    expect(stopLines.find((l) => l['msg'] === 'replay finished')).toMatchObject({ ended: false });
    const second = await broker();
    const lines = await run(second.url, dataDir);
    expect(lines.find((l) => l['msg'] === 'metric windows restored')).toMatchObject({ metricWindows: 1, comparisonWindows: 1 });
    const runs = [{ b: first }, { b: second }];
    expect(stored(runs, 'metrics')).toEqual(stored([{ b: expected }], 'metrics'));
    expect(stored(runs, 'comparisons')).toEqual(stored([{ b: expected }], 'comparisons'));
  });
});

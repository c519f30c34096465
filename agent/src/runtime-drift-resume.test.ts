/**
 * The drift windows across a restart, on a whole agent runtime (real SQLite outbox, real onnxruntime,
 * azure-pdm-failure-24h 1.0.0, whose card carries reference bins for its 28 features and its score):
 * 300 hourly readings of machine 5 in drift windows of two days. An agent killed mid-window (the data
 * directory as a SIGKILL leaves it, right after a commit) or stopped cleanly mid-window, then started
 * again on that directory, publishes the same drift windows as an uninterrupted run: the window that
 * spans the restart once, with every row, none twice. What a run publishes is what its outbox commits
 * (each record once, by seq): the forwarder's delivery is not what is tested here.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { driftWindowSchema } from '@pdm/protocol';
import { systemClock } from './clock.js';
import { agentConfigSchema, type AgentConfig } from './config/schema.js';
import type { OutboxEntry } from './outbox/outbox.js';
import { createRuntime, type Runtime } from './runtime.js';
import { TestBroker, startTestBroker } from './testing/broker.js';
import { within } from './testing/waiting.js';
import { azureModels, telemetry } from './updates/device-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-drift-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const ROWS = 300;
/** Rows per inference batch: 24 rows of warm-up, then a prediction commit every 16 rows. */
const BATCH = 16;
/** The interrupted runs stop after this many prediction commits: row 23 + 8 x 16 = 151, mid-window (2015-01-07 12:00). */
const CUT = 8;

/** Machine 5's first ROWS readings: the input ends there in every run, so that every run ends alike. */
const data = join(dir, 'machine-5.csv');
{
  const lines = readFileSync(telemetry, 'utf8').split('\n');
  writeFileSync(data, [lines[0], ...lines.slice(1).filter((l) => l.split(',')[1] === '5').slice(0, ROWS)].join('\n') + '\n');
}

function config(url: string, dataDir: string, over: Record<string, unknown> = {}): AgentConfig {
  return agentConfigSchema.parse({
    deviceId: 'edge-d', assetId: 'machine-5', brokerUrl: url, dataDir, model: join(azureModels, '1.0.0'),
    inference: { maxBatchRows: BATCH },
    quality: { driftWindowSeconds: 2 * 86_400 },
    source: { type: 'replay-csv', file: data, timeColumn: 'datetime' },
    ...over,
  });
}

interface Drift {
  readonly seq: number;
  readonly window: string;
  readonly figures: unknown;
}

interface Started {
  readonly runtime: Runtime;
  readonly lines: Record<string, unknown>[];
  /** The drift records its outbox committed, in seq order. */
  readonly drift: Drift[];
}

async function start(cfg: AgentConfig): Promise<Started> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
  const runtime = await createRuntime(cfg, { clock: systemClock, log: pino({ level: 'info' }, sink) });
  const drift: Drift[] = [];
  runtime.outbox.onCommit((entries) => {
    for (const e of entries) {
      if (e.kind !== 'drift') continue;
      const { seq, deviceId: _, time: __, ...figures } = driftWindowSchema.parse(JSON.parse(e.payload.toString('utf8')));
      drift.push({ seq, window: `${figures.windowStart}/${figures.windowEnd}`, figures });
    }
  });
  await runtime.agent.start();
  return { runtime, lines, drift };
}

/** Runs until the input ended and everything it produced was committed. */
async function runToEnd(cfg: AgentConfig): Promise<Started> {
  const started = await start(cfg);
  expect(await within(started.runtime.sourceOutcome, 'source over', 60_000)).toBe('ended');
  await started.runtime.agent.stop();
  return started;
}

/** Calls `fn` once, right after the outbox committed the CUT-th prediction batch. */
function afterCut(runtime: Runtime, fn: () => void): void {
  let batches = 0;
  const off = runtime.outbox.onCommit((entries: readonly OutboxEntry[]) => {
    if (!entries.some((e) => e.kind === 'predictions') || ++batches !== CUT) return;
    off();
    fn();
  });
}

const broker = (): Promise<TestBroker> => startTestBroker((stop) => cleanup.push(stop));

let wholeRun: Promise<Drift[]> | undefined;
/** The drift windows of the uninterrupted run, once for the file. */
function whole(): Promise<Drift[]> {
  wholeRun ??= (async () => {
    const b = await broker();
    const windows = (await runToEnd(config(b.url, join(dir, 'whole')))).drift;
    // 300 hours from 2015-01-01 06:00 in windows of two days: seven windows, the first and last short
    expect(windows.map((d) => d.window)).toEqual(Array.from({ length: 7 }, (_, i) => {
      const iso = (day: number): string => new Date(Date.UTC(2015, 0, 1 + 2 * day)).toISOString();
      return `${iso(i)}/${iso(i + 1)}`;
    }));
    return windows;
  })();
  return wholeRun;
}

const figures = (ds: readonly Drift[]): unknown[] => ds.map((d) => d.figures);

describe('drift windows across a restart', () => {
  it('an agent killed mid-window and started again publishes the same drift windows as an uninterrupted run, none twice', { timeout: 120_000 }, async () => {
    const expected = await whole();
    const first = await broker();
    const dataDir = join(dir, 'killed');
    const image = join(dir, 'killed-image');
    let imageSeq = 0;
    const running = await start(config(first.url, dataDir));
    // what a SIGKILL right after that commit leaves on disk (the -shm index is rebuilt from the WAL on open)
    afterCut(running.runtime, () => {
      cpSync(dataDir, image, { recursive: true, filter: (src) => !src.endsWith('-shm') });
      imageSeq = running.runtime.outbox.stats().lastSeq;
    });
    expect(await within(running.runtime.sourceOutcome, 'source over', 60_000)).toBe('ended');
    await running.runtime.agent.stop();
    expect(imageSeq).toBeGreaterThan(0);

    const second = await broker();
    const resumed = await runToEnd(config(second.url, image));
    expect(resumed.lines.find((l) => l['msg'] === 'drift windows restored')).toMatchObject({
      model: { name: 'azure-pdm-failure-24h', version: '1.0.0' }, role: 'active', start: '2015-01-07T00:00:00.000Z',
    });
    // what was durable at the kill, then what the restarted agent committed
    const actual = [...running.drift.filter((d) => d.seq <= imageSeq), ...resumed.drift];
    expect(new Set(actual.map((d) => d.window)).size).toBe(actual.length);
    expect(figures(actual)).toEqual(figures(expected));
  });

  it('an agent stopped mid-window keeps the window pending and, started again, publishes the same drift windows as an uninterrupted run', { timeout: 120_000 }, async () => {
    const expected = await whole();
    const b = await broker();
    const dataDir = join(dir, 'stopped');
    const running = await start(config(b.url, dataDir));
    const stopped = new Promise<void>((resolve, reject) => {
      // as a SIGTERM does: from the event loop, not from inside the commit
      afterCut(running.runtime, () => setImmediate(() => running.runtime.agent.stop().then(resolve, reject)));
    });
    await within(stopped, 'agent stopped', 60_000);
    expect(await running.runtime.sourceOutcome).toBe('stopped');
    expect(running.lines.find((l) => l['msg'] === 'drift windows kept pending for the next start')).toMatchObject({ windows: 1 });
    expect(running.drift.length).toBeLessThan(expected.length);

    const resumed = await runToEnd(config(b.url, dataDir));
    expect(resumed.lines.find((l) => l['msg'] === 'drift windows restored')).toMatchObject({ role: 'active' });
    const actual = [...running.drift, ...resumed.drift];
    expect(new Set(actual.map((d) => d.window)).size).toBe(actual.length);
    expect(figures(actual)).toEqual(figures(expected));
  });

  it('a replay from the first row (source.resume false) starts its drift windows empty', { timeout: 120_000 }, async () => {
    const expected = await whole();
    const b = await broker();
    const dataDir = join(dir, 'fresh');
    const running = await start(config(b.url, dataDir));
    const stopped = new Promise<void>((resolve, reject) => {
      afterCut(running.runtime, () => setImmediate(() => running.runtime.agent.stop().then(resolve, reject)));
    });
    await within(stopped, 'agent stopped', 60_000);
    const again = await runToEnd(config(b.url, dataDir, { source: { type: 'replay-csv', file: data, timeColumn: 'datetime', resume: false } }));
    expect(again.lines.find((l) => l['msg'] === 'drift snapshot ignored; drift windows start empty')).toMatchObject({ why: 'the source did not resume' });
    expect(again.lines.find((l) => l['msg'] === 'drift windows restored')).toBeUndefined();
    // the whole replay again, from empty windows: the same windows as the uninterrupted run
    expect(figures(again.drift)).toEqual(figures(expected));
  });
});

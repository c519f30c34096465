/**
 * A replay restarted on the same data directory goes on after the last row whose results were
 * committed, like a real sensor: nothing it sent before (predictions, events, windows) is sent again.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { predictionBatchSchema } from '@pdm/protocol';
import { systemClock } from './clock.js';
import { agentConfigSchema, type AgentConfig } from './config/schema.js';
import { createRuntime } from './runtime.js';
import { REPLAY_POSITION_FILE, ReplayPosition } from './sources/replay-position.js';
import { TestBroker, startTestBroker } from './testing/broker.js';
import { FakeClock } from './testing/fake-clock.js';
import { silentLogger } from './testing/logger.js';
import { writeTinyModel } from './testing/tiny-model.js';
import { within } from './testing/waiting.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const modelDir = writeTinyModel(join(dir, 'model'), { weights: [0, 1], bias: 0 });
const hour = (i: number): string => new Date(Date.UTC(2015, 0, 1, i)).toISOString().replace('T', ' ').slice(0, 19);
const csv = join(dir, 'data.csv');
writeFileSync(csv, 'datetime,machineID,a,b\n' + Array.from({ length: 48 }, (_, i) => `${hour(i)},3,${i % 5},${i % 12 < 9 ? -3 : 3}\n${hour(i)},7,0,0`).join('\n') + '\n');
const failures = join(dir, 'failures.csv');
writeFileSync(failures, `"datetime","machineID","failure"\n${hour(10)},3,"comp1"\n${hour(30)},3,"comp2"\n`);

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function config(url: string, dataDir: string, source: Record<string, unknown> = {}): AgentConfig {
  return agentConfigSchema.parse({
    deviceId: 'edge-r', assetId: 'machine-3', brokerUrl: url, dataDir, model: modelDir, metricsWindowSeconds: 86_400,
    source: { type: 'replay-csv', file: csv, filter: 'machineID=3', timeColumn: 'datetime', eventsFiles: [{ file: failures, type: 'failure' }], ...source },
  });
}

/** Runs the agent until its source is over and everything is delivered; returns its log lines. */
async function runToEnd(cfg: AgentConfig): Promise<{ summary: Record<string, unknown>; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
  const runtime = await createRuntime(cfg, { clock: systemClock, log: pino({ level: 'info' }, sink) });
  await runtime.agent.start();
  await within(runtime.sourceDelivered, 'source delivered');
  await runtime.agent.stop();
  return { summary: runtime.summary(), lines };
}

const broker = (): Promise<TestBroker> => startTestBroker((stop) => cleanup.push(stop));

const predictionTimes = (b: TestBroker): number[] =>
  b.payloads('/up/predictions').flatMap((p) => predictionBatchSchema.parse(p).predictions.map((x) => Date.parse(x.t)));

describe('replay resume', () => {
  it('a restarted replay goes on after the last committed row: no prediction or event is sent twice', async () => {
    const b = await broker();
    const dataDir = join(dir, 'd1');
    const first = await runToEnd(config(b.url, dataDir, { maxRows: 20 }));
    expect(first.summary).toMatchObject({ readings: 20, events: 1 });
    const position = JSON.parse(readFileSync(join(dataDir, REPLAY_POSITION_FILE), 'utf8')) as { time: string };
    expect(position.time).toBe('2015-01-01T19:00:00.000Z');
    const sentFirst = predictionTimes(b);

    const second = await runToEnd(config(b.url, dataDir));
    expect(second.summary).toMatchObject({ readings: 28, events: 1 });
    expect(second.lines.find((l) => l['msg'] === 'replay resumed')).toMatchObject({ after: '2015-01-01T19:00:00.000Z', skippedRows: 20, row: 21, time: '2015-01-01T20:00:00.000Z' });
    const sentSecond = predictionTimes(b).slice(sentFirst.length);
    expect(sentSecond.length).toBeGreaterThan(0);
    expect(Math.min(...sentSecond)).toBeGreaterThan(Math.max(...sentFirst));
    expect(b.payloads('/up/events').map((e) => e['at'])).toEqual(['2015-01-01T10:00:00.000Z', '2015-01-02T06:00:00.000Z']);

    // a third start has nothing left to send
    const third = await runToEnd(config(b.url, dataDir));
    expect(third.summary).toMatchObject({ readings: 0, events: 0 });
    expect(third.lines.find((l) => l['msg'] === 'replay resumed')).toMatchObject({ skippedRows: 48, row: null });
  });

  it('resume false replays from the first row; a position of another file or filter is ignored', async () => {
    const b = await broker();
    const dataDir = join(dir, 'd2');
    await runToEnd(config(b.url, dataDir, { maxRows: 10 }));
    expect((await runToEnd(config(b.url, dataDir, { resume: false, maxRows: 12 }))).summary).toMatchObject({ readings: 12 });
    const other = await runToEnd(config(b.url, dataDir, { filter: 'machineID=7', maxRows: 3 }));
    expect(other.summary).toMatchObject({ readings: 3 });
    expect(other.lines.find((l) => l['msg'] === 'replay position is for another source; starting from the first row')).toBeDefined();
  });
});

describe('ReplayPosition', () => {
  it('writes at most once a second while rows are committed, and the last position at save()', () => {
    const clock = new FakeClock();
    const file = join(dir, 'position-unit.json');
    const position = new ReplayPosition({ file, source: 'x.csv', clock, log: silentLogger });
    expect(position.load()).toBeUndefined();
    position.committedThrough({ time: 1000, count: 1 });
    const read = () => (JSON.parse(readFileSync(file, 'utf8')) as { time: string }).time;
    expect(read()).toBe(new Date(1000).toISOString());
    position.committedThrough({ time: 2000, count: 1 });
    expect(read()).toBe(new Date(1000).toISOString());
    clock.advance(1000);
    position.committedThrough({ time: 3000, count: 1 });
    expect(read()).toBe(new Date(3000).toISOString());
    position.committedThrough({ time: 4000, count: 1 });
    position.save();
    expect(read()).toBe(new Date(4000).toISOString());
    expect(new ReplayPosition({ file, source: 'x.csv', clock, log: silentLogger }).load()).toEqual({ readings: { time: 4000, count: 1 }, events: undefined });
    // rows of equal times: how many at the last time were taken is kept; a file without it (earlier versions) means one
    position.committedThrough({ time: 4000, count: 2 });
    position.save();
    expect(new ReplayPosition({ file, source: 'x.csv', clock, log: silentLogger }).load()?.readings).toEqual({ time: 4000, count: 2 });
    writeFileSync(file, JSON.stringify({ schemaVersion: 1, source: 'x.csv', time: new Date(5000).toISOString() }));
    expect(new ReplayPosition({ file, source: 'x.csv', clock, log: silentLogger }).load()?.readings).toEqual({ time: 5000, count: 1 });
    expect(new ReplayPosition({ file, source: 'y.csv', clock, log: silentLogger }).load()).toBeUndefined();
    writeFileSync(file, '{"schemaVersion":1}');
    expect(new ReplayPosition({ file, source: 'x.csv', clock, log: silentLogger }).load()).toBeUndefined();
    expect(existsSync(file)).toBe(true);
  });
});

/**
 * The feature windows across a restart, on a whole agent runtime (real SQLite outbox, real onnxruntime,
 * azure-pdm-failure-24h 1.0.0 with 24-reading windows on the Azure telemetry): an agent interrupted after
 * row k and started again on the same data directory publishes, for every row after k, the same
 * predictions (times and scores) as an uninterrupted run, the first rows after the resume included, and
 * none twice; the same alerts (the alert policy goes on from its state) and the same machine events, each
 * once, also when it is killed right after committing one of two events of the same time; and rows of
 * equal times split by the stop are all scored. A model whose feature spec differs starts from empty
 * windows instead of a foreign tail.
 *
 * A kill is simulated by copying the data directory from inside the outbox's commit listener, i.e. right
 * after a transaction, before anything else runs: the copy holds what a SIGKILL at that point leaves.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { alertSchema, machineEventSchema, predictionBatchSchema } from '@pdm/protocol';
import { systemClock } from './clock.js';
import { agentConfigSchema, type AgentConfig } from './config/schema.js';
import { createRuntime } from './runtime.js';
import type { OutboxEntry } from './outbox/outbox.js';
import { REPLAY_POSITION_FILE } from './sources/replay-position.js';
import { TestBroker, startTestBroker } from './testing/broker.js';
import { within } from './testing/waiting.js';
import { azureModels, telemetry } from './updates/device-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-windows-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const azureDir = new URL('../../models/data/azure-pdm/', import.meta.url).pathname;
/**
 * Rows of machine 5 replayed in all; the interrupted runs stop after K of them (not a batch boundary).
 * Its scores pass the threshold at rows 165-197 (alerts at 165, then every 6 h of cooldown), and a
 * failure and a maintenance of comp2 happen at row 193's time (PdM_failures.csv, PdM_maint.csv).
 */
const ROWS = 200;
const K = 70;
const EVENTS_AT = 193;
const HOUR = 3_600_000;
/** The time of machine 5's row i (1-based): the telemetry is hourly from 2015-01-01 06:00. */
const rowTime = (i: number): number => Date.UTC(2015, 0, 1, 6) + (i - 1) * HOUR;

interface Run {
  readonly maxRows: number;
  /** Rows per inference batch (the agent's default is 64). */
  readonly batch?: number;
  readonly model?: string;
  readonly logFiles?: boolean;
  /** Another telemetry file of machine 5 (default: the Azure file). */
  readonly file?: string;
}

function config(url: string, dataDir: string, extra: Run): AgentConfig {
  return agentConfigSchema.parse({
    deviceId: 'edge-w', assetId: 'machine-5', brokerUrl: url, dataDir, model: extra.model ?? join(azureModels, '1.0.0'),
    ...(extra.batch === undefined ? {} : { inference: { maxBatchRows: extra.batch } }),
    source: {
      type: 'replay-csv', file: extra.file ?? telemetry, filter: 'machineID=5', timeColumn: 'datetime', maxRows: extra.maxRows,
      eventsFiles: [{ file: join(azureDir, 'PdM_failures.csv'), type: 'failure' }, { file: join(azureDir, 'PdM_maint.csv'), type: 'maintenance' }],
      ...(extra.logFiles === true
        ? { logFiles: [{ file: join(azureDir, 'PdM_errors.csv'), kind: 'error' }, { file: join(azureDir, 'PdM_maint.csv'), kind: 'maintenance' }] }
        : {}),
    },
  });
}

/**
 * Runs the agent until its source is over and everything is delivered; returns its log lines. `killAt`:
 * copies the data directory to `into` right after the first commit `at` picks, as a SIGKILL there leaves
 * it, and tells the last seq committed then.
 */
async function runToEnd(cfg: AgentConfig, killAt?: { at: (entries: readonly OutboxEntry[]) => boolean; into: string; lastSeq?: number }): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
  const runtime = await createRuntime(cfg, { clock: systemClock, log: pino({ level: 'info' }, sink) });
  if (killAt !== undefined) {
    const off = runtime.outbox.onCommit((entries) => {
      if (!killAt.at(entries)) return;
      off();
      // the shared-memory index is rebuilt from the WAL by the next process to open the file
      cpSync(cfg.dataDir, killAt.into, { recursive: true, filter: (f) => !f.endsWith('-shm') });
      killAt.lastSeq = runtime.outbox.stats().lastSeq;
    });
  }
  await runtime.agent.start();
  await within(runtime.sourceDelivered, 'source delivered');
  await runtime.agent.stop();
  return lines;
}

const broker = (): Promise<TestBroker> => startTestBroker((stop) => cleanup.push(stop));

/** Every prediction batch that reached the broker, in the order published: its [time, score] pairs. */
const batches = (b: TestBroker): [number, number][][] =>
  b.payloads('/up/predictions').map((p) => predictionBatchSchema.parse(p).predictions.map((x): [number, number] => [Date.parse(x.t), x.score]));
const predictions = (b: TestBroker): [number, number][] => batches(b).flat();
const alerts = (b: TestBroker) => b.payloads('/up/alerts').map((p) => alertSchema.parse(p));
const events = (b: TestBroker) => b.payloads('/up/events').map((p) => machineEventSchema.parse(p));

/**
 * What the controller keeps of the records published by runs killed after committing seq `lastSeq` (what
 * they published after it is not in the copy the next run starts from) and by the last run: one per seq.
 */
function stored<T extends { seq: number }>(killed: readonly { records: readonly T[]; lastSeq: number }[], last: readonly T[]): Omit<T, 'seq'>[] {
  const bySeq = new Map<number, T>();
  for (const r of [...killed.flatMap((k) => k.records.filter((x) => x.seq <= k.lastSeq)), ...last]) bySeq.set(r.seq, r);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq).map(({ seq: _, ...rest }) => rest);
}
const withoutSeq = <T extends { seq: number }>(records: readonly T[]): Omit<T, 'seq'>[] => records.map(({ seq: _, ...rest }) => rest);

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

  it('an agent stopped while scores pass goes on with its alert state: the alerts of an uninterrupted run, no more', async () => {
    const expected = withoutSeq(alerts(await whole(1)));
    // the rising edge at 165, again after 6 h of cooldown at 171: a restart at 167 lies between them
    expect(expected.slice(0, 2).map((a) => Date.parse(a.time))).toEqual([rowTime(165), rowTime(171)]);
    const b = await broker();
    const dataDir = join(dir, 'alerting');
    await runToEnd(config(b.url, dataDir, { maxRows: 167, batch: 1 }));
    const lines = await runToEnd(config(b.url, dataDir, { maxRows: ROWS - 167, batch: 1 }));
    expect(lines.find((l) => l['msg'] === 'feature windows restored')).toMatchObject({ alertsRestored: true });
    expect(withoutSeq(alerts(b))).toEqual(expected);
  });

  it('killed right after committing each of two events of one time: every event, alert and prediction reaches the controller once', async () => {
    const whole1 = await whole(1);
    const expectedEvents = withoutSeq(events(whole1));
    expect(expectedEvents.map((e) => [e.type, Date.parse(e.at)])).toEqual([['failure', rowTime(EVENTS_AT)], ['maintenance', rowTime(EVENTS_AT)]]);
    const runs = await killedAfterEachEvent('killed');
    expect(stored(runs.killed(events), events(runs.last))).toEqual(expectedEvents);
    // scores pass from 165 on: the restarts at 193 fall within the 6 h cooldown of the alert at 189
    expect(stored(runs.killed(alerts), alerts(runs.last))).toEqual(withoutSeq(alerts(whole1)));
    const batchesOf = (b: TestBroker) => b.payloads('/up/predictions').map((p) => predictionBatchSchema.parse(p));
    const rows = stored(runs.killed(batchesOf), batchesOf(runs.last)).flatMap((p) => p.predictions.map((x) => [Date.parse(x.t), x.score]));
    expect(rows).toEqual(predictions(whole1));
  });

  it('the same with a model of another feature spec after the first kill: its windows start empty, but no event is sent twice', async () => {
    const expectedEvents = withoutSeq(events(await whole(1)));
    const runs = await killedAfterEachEvent('updated-killed', { model: join(azureModels, '2.0.0'), logFiles: true });
    expect(runs.restartLines.find((l) => l['msg'] === 'feature-window snapshot ignored; windows start empty')).toMatchObject({ why: 'taken for another feature spec' });
    expect(stored(runs.killed(events), events(runs.last))).toEqual(expectedEvents);
  });

  it('rows of equal times split by the stop: the second is scored after the restart, as in an uninterrupted run', async () => {
    const file = pairedTelemetry(100);
    const wholeRun = await broker();
    await runToEnd(config(wholeRun.url, join(dir, 'paired-whole'), { maxRows: 100, batch: 1, file }));
    const expected = predictions(wholeRun);
    // two rows an hour: the windows of 24 readings fill at row 24
    expect(expected).toHaveLength(100 - 23);
    const b = await broker();
    const dataDir = join(dir, 'paired');
    // rows 71 and 72 share a time
    await runToEnd(config(b.url, dataDir, { maxRows: 71, batch: 1, file }));
    const lines = await runToEnd(config(b.url, dataDir, { maxRows: 29, batch: 1, file }));
    expect(lines.find((l) => l['msg'] === 'replay resumed')).toMatchObject({ skippedRows: 71, row: 72, time: new Date(pairedTime(72)).toISOString() });
    expect(predictions(b)).toEqual(expected);
  });
});

/**
 * Machine 5 replayed three times on one data directory (batches of 1): killed right after committing the
 * failure at row 193's time, started again (with `restart`'s model, if given) and killed right after
 * committing its first record, the maintenance of the same time, before it took a reading, and started
 * a third time to the end. `killed` gives what the controller got from the killed runs.
 */
async function killedAfterEachEvent(name: string, restart: Pick<Run, 'model' | 'logFiles'> = {}) {
  const afterEvent = (into: string) => ({ at: (entries: readonly OutboxEntry[]) => entries.some((e) => e.kind === 'events'), into, lastSeq: undefined as number | undefined });
  const first = await broker();
  const kill1 = afterEvent(join(dir, `${name}-1`));
  await runToEnd(config(first.url, join(dir, `${name}-live`), { maxRows: ROWS, batch: 1 }), kill1);
  const second = await broker();
  const kill2 = afterEvent(join(dir, `${name}-2`));
  const restartLines = await runToEnd(config(second.url, kill1.into, { maxRows: ROWS - (EVENTS_AT - 1), batch: 1, ...restart }), kill2);
  // the failure went before row 193, whose reading was not taken yet
  expect(restartLines.find((l) => l['msg'] === 'replay resumed')).toMatchObject({ skippedRows: EVENTS_AT - 1, row: EVENTS_AT });
  const last = await broker();
  await runToEnd(config(last.url, kill2.into, { maxRows: ROWS - (EVENTS_AT - 1), batch: 1, ...restart }));
  const killed = <T extends { seq: number }>(of: (b: TestBroker) => T[]) => [
    { records: of(first), lastSeq: kill1.lastSeq! }, { records: of(second), lastSeq: kill2.lastSeq! },
  ];
  return { killed, last, restartLines };
}

/** Row i (1-based) of the paired file: two rows an hour. */
const pairedTime = (i: number): number => Date.UTC(2015, 0, 1, 6) + Math.floor((i - 1) / 2) * HOUR;

/** Machine 5's first `rows` rows of the Azure telemetry, with two rows at each hour. */
function pairedTelemetry(rows: number): string {
  const [header, ...lines] = readFileSync(telemetry, 'utf8').split('\n');
  const machine5 = lines.filter((l) => l.split(',')[1] === '5').slice(0, rows);
  const file = join(dir, 'paired.csv');
  const at = (i: number): string => new Date(pairedTime(i)).toISOString().replace('T', ' ').slice(0, 19);
  writeFileSync(file, [header, ...machine5.map((l, i) => `${at(i + 1)},${l.slice(l.indexOf(',') + 1)}`)].join('\n') + '\n');
  return file;
}

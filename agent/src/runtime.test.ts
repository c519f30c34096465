import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { replySchema, statusSchema, topicFor } from '@pdm/protocol';
import { systemClock } from './clock.js';
import { agentConfigSchema, type AgentConfig } from './config/schema.js';
import { createRuntime, type Runtime } from './runtime.js';
import { TestBroker, startTestBroker } from './testing/broker.js';
import { silentLogger } from './testing/logger.js';
import { writeTinyModel } from './testing/tiny-model.js';
import { waitFor, within } from './testing/waiting.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-runtime-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const modelDir = writeTinyModel(join(dir, 'model'), { weights: [0, 1], bias: 0 });
const csv = join(dir, 'data.csv');
// b drives the score: sigmoid(b) passes 0.5 at b >= 0; machine 7 rows are filtered out
writeFileSync(
  csv,
  'datetime,machineID,a,b\n' +
    Array.from({ length: 48 }, (_, i) => {
      const t = new Date(Date.UTC(2015, 0, 1, i)).toISOString().replace('T', ' ').slice(0, 19);
      return `${t},3,${i % 5},${i % 12 < 9 ? -3 : 3}\n${t},7,0,0`;
    }).join('\n') + '\n2015-01-03 00:00:00,3,NaN,1\n',
);
const failures = join(dir, 'failures.csv');
writeFileSync(failures, '"datetime","machineID","failure"\n2015-01-01 10:00:00,3,"comp1"\n2015-01-01 10:00:00,7,"comp2"\n');

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const broker = (): Promise<TestBroker> => startTestBroker((stop) => cleanup.push(stop));

function config(url: string, dataDir: string, extra: Record<string, unknown> = {}): AgentConfig {
  return agentConfigSchema.parse({
    deviceId: 'edge-3',
    assetId: 'machine-3',
    brokerUrl: url,
    dataDir,
    model: modelDir,
    metricsWindowSeconds: 86_400,
    alerts: { cooldownSeconds: 0 },
    link: { reconnectInitialMs: 20, reconnectMaxMs: 100 },
    source: { type: 'replay-csv', file: csv, filter: 'machineID=3', timeColumn: 'datetime', eventsFiles: [{ file: failures, type: 'failure' }] },
    ...extra,
  });
}

async function run(cfg: AgentConfig): Promise<Runtime> {
  const runtime = await createRuntime(cfg, { clock: systemClock, log: silentLogger });
  await runtime.agent.start();
  return runtime;
}

const seqs = (b: TestBroker) =>
  b.published.filter((p) => !p.topic.endsWith('/status') && !p.topic.endsWith('/reply')).map((p) => (JSON.parse(p.payload.toString()) as { seq: number }).seq);

describe('agent runtime end to end (replay -> ONNX -> SQLite outbox -> aedes)', () => {
  it('delivers every record once, reports status online then offline/stopped', async () => {
    const b = await broker();
    const runtime = await run(config(b.url, join(dir, 'data-1')));
    expect(await within(runtime.sourceOutcome, 'source end')).toBe('ended');
    expect(await within(runtime.sourceDelivered, 'source delivered')).toBe('ended');
    expect(runtime.outbox.stats().depth).toBe(0);
    await runtime.agent.stop();

    const summary = runtime.summary();
    expect(summary).toMatchObject({ readings: 49, rejectedReadings: 1, predictions: 46, events: 1, outboxDepth: 0 });
    expect(summary['alerts']).toBe(12); // cooldown 0: every passing score after the rising edge raises again
    expect(seqs(b).sort((x, y) => x - y)).toEqual(Array.from({ length: summary['lastSeq'] as number }, (_, i) => i + 1));
    const kinds = b.published.map((p) => p.topic.split('/').at(-1));
    // quality: the tiny model predicts failure within a horizon, and the replay has a failure
    expect(new Set(kinds)).toEqual(new Set(['status', 'predictions', 'alerts', 'events', 'metrics', 'quality']));

    const statuses = b.payloads('/up/status');
    for (const s of statuses) expect(statusSchema.safeParse(s).success).toBe(true);
    expect(statuses[0]).toMatchObject({ state: 'online', deviceId: 'edge-3', models: [{ name: 'tiny', version: '1.0.0', role: 'active' }] });
    expect(statuses.at(-1)).toMatchObject({ state: 'offline', reason: 'stopped', lastSeq: summary['lastSeq'], counters: { outboxDepth: 0, readings: 49 } });
    expect(b.published.filter((p) => p.topic.endsWith('/status')).every((p) => p.retain)).toBe(true);
  });

  it('keeps records made while the broker is away and delivers them, continuing the seq, on the next start', async () => {
    const b = await broker();
    const dataDir = join(dir, 'data-2');
    await b.stop();
    const first = await run(config(b.url, dataDir));
    await within(first.sourceOutcome, 'source end');
    const made = first.outbox.stats();
    expect(made.depth).toBe(made.lastSeq);
    await first.agent.stop();

    await b.start();
    // a fresh replay (resume off): the first run replayed the whole file, and new records are the point here
    const second = await run(config(b.url, dataDir, { source: { type: 'replay-csv', file: csv, filter: 'machineID=3', timeColumn: 'datetime', maxRows: 5, resume: false } }));
    await within(second.sourceOutcome, 'source end');
    await within(second.forwarder.drained(), 'drained');
    await second.agent.stop();
    const all = seqs(b);
    expect(Math.min(...all)).toBe(1);
    expect(new Set(all).size).toBe(second.outbox.stats().lastSeq);
    expect(second.outbox.stats().lastSeq).toBeGreaterThan(made.lastSeq);
  });

  it('answers commands on down/cmd and republishes status on report-state', async () => {
    const b = await broker();
    const runtime = await run(config(b.url, join(dir, 'data-3'), { source: { type: 'replay-csv', file: csv, timeColumn: 'datetime', speed: 1 } }));
    cleanup.push(() => runtime.agent.stop());
    await waitFor(() => runtime.link.connected, 'agent connected');
    const controller = connect(b.url, { clientId: 'controller', reconnectPeriod: 0 });
    cleanup.push(() => controller.endAsync());
    await new Promise((resolve) => controller.once('connect', resolve));
    const statusesBefore = b.payloads('/up/status').length;
    const t = new Date().toISOString();
    for (const cmd of [{ id: 'c1', time: t, type: 'report-state' }, { id: 'c1', time: t, type: 'report-state' }, { id: 'c2', type: 'ping' }]) {
      await controller.publishAsync(topicFor('edge-3', 'cmd'), JSON.stringify(cmd), { qos: 1 });
    }
    await waitFor(() => b.payloads('/up/reply').length === 3, 'three replies');
    const replies = b.payloads('/up/reply');
    for (const r of replies) expect(replySchema.safeParse(r).success).toBe(true);
    // replies may overtake each other: the invalid one needs no work
    expect(replies.map((r) => `${String(r['commandId'])}:${String(r['status'])}`).sort()).toEqual(['c1:ok', 'c1:ok', 'c2:error']);
    // report-state acted once although asked twice
    expect(b.payloads('/up/status').length - statusesBefore).toBe(1);
  });

  it('fails to build on a model whose card does not match it', async () => {
    const bad = writeTinyModel(join(dir, 'bad-model'), { weights: [1, 1, 1] });
    await expect(createRuntime(config('mqtt://127.0.0.1:1', join(dir, 'data-4'), { model: bad }), { clock: systemClock, log: silentLogger })).rejects.toMatchObject({
      code: 'MODEL_SPEC_MISMATCH',
    });
  });
});

/**
 * The pdm-agent program as a process: exit codes, the log lines tests and the demo parse, and signals.
 * Runs src/main.ts through tsx so no build is needed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startTestBroker } from './testing/broker.js';
import { writeTinyModel } from './testing/tiny-model.js';
import { waitFor } from './testing/waiting.js';

const repo = new URL('../../', import.meta.url).pathname;
const main = new URL('./main.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'pdm-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model = writeTinyModel(join(dir, 'model'), { weights: [0, 1] });
const csv = join(dir, 'data.csv');
writeFileSync(csv, 'datetime,a,b\n' + Array.from({ length: 30 }, (_, i) => `2015-01-01 ${String(i % 24).padStart(2, '0')}:00:00,${i},${i % 2 ? 1 : -1}`).slice(0, 24).join('\n') + '\n');

const brokerStops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(brokerStops.splice(0).map((stop) => stop()));
});

interface Run {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: string[];
  exit: Promise<number | null>;
}

function agent(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--conditions=pdm-source', '--import', 'tsx', main, ...args], {
    cwd: repo,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const line of parts) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, lines, stderr, exit };
}

function baseArgs(url: string, dataDir: string, speed = 'max'): string[] {
  return [
    '--device-id', 'edge-9', '--asset-id', 'machine-9', '--broker-url', url, '--data-dir', dataDir, '--model', model,
    '--source.type', 'replay-csv', '--source.file', csv, '--source.time-column', 'datetime', `--source.speed=${speed}`,
    '--link.reconnect-initial-ms', '50',
  ];
}

describe('pdm-agent process', () => {
  it('exits 2 listing every configuration problem', async () => {
    const run = agent(['--heartbeat-seconds', '-5', '--source.speed', 'fast'], { PDM_AGENT_DEVICE_ID: 'no spaces allowed' });
    expect(await run.exit).toBe(2);
    const text = run.stderr.join('');
    for (const path of ['deviceId', 'assetId', 'model', 'source', 'heartbeatSeconds']) expect(text).toMatch(new RegExp(`\\n  ${path}[.:]`));
  });

  it('with --exit-when-done: logs "agent ready" once connected and "agent done" with its counts, and exits 0', async () => {
    const b = await startTestBroker((stop) => brokerStops.push(stop));
    const run = agent([...baseArgs(b.url, join(dir, 'd1')), '--exit-when-done']);
    expect(await run.exit).toBe(0);
    const ready = run.lines.filter((l) => l['msg'] === 'agent ready');
    expect(ready).toHaveLength(1);
    expect(ready[0]).toMatchObject({ deviceId: 'edge-9', assetId: 'machine-9', model: { name: 'tiny', version: '1.0.0' }, lastSeq: expect.any(Number) });
    const done = run.lines.find((l) => l['msg'] === 'agent done')!;
    expect(done).toMatchObject({ deviceId: 'edge-9', readings: 24, predictions: 22, events: 0, outboxDepth: 0, statesNotStored: 0 });
    expect(done['alerts']).toBeGreaterThan(0);
    expect(done['lastSeq']).toBe(done['delivered']);
    const delivered = b.published.filter((p) => !p.topic.endsWith('/status')).length;
    expect(delivered).toBe(done['lastSeq']);
    expect(b.payloads('/up/status').at(-1)).toMatchObject({ state: 'offline', reason: 'stopped' });
  });

  it('on SIGTERM stops cleanly, says goodbye and exits 0', async () => {
    const b = await startTestBroker((stop) => brokerStops.push(stop));
    const run = agent(baseArgs(b.url, join(dir, 'd2'), '1'));
    await waitFor(() => run.lines.some((l) => l['msg'] === 'agent ready'), 'agent ready', 15_000);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.lines.find((l) => l['msg'] === 'agent stopped')).toMatchObject({ deviceId: 'edge-9' });
    expect(b.payloads('/up/status').at(-1)).toMatchObject({ state: 'offline', reason: 'stopped' });
  });

  it('survives SIGKILL: the last will marks it offline/lost, and a restart delivers every committed record', async () => {
    const b = await startTestBroker((stop) => brokerStops.push(stop));
    const dataDir = join(dir, 'd3');
    const first = agent(baseArgs(b.url, dataDir, '36000'));
    const records = () => b.published.filter((p) => !p.topic.endsWith('/status')).length;
    await waitFor(() => records() >= 3, 'some records delivered', 15_000);
    first.child.kill('SIGKILL');
    await first.exit;
    await waitFor(() => b.payloads('/up/status').some((s) => s['reason'] === 'lost'), 'last will');

    const second = agent([...baseArgs(b.url, dataDir), '--exit-when-done']);
    expect(await second.exit).toBe(0);
    const done = second.lines.find((l) => l['msg'] === 'agent done')!;
    const seqs = new Set(b.published.filter((p) => !p.topic.endsWith('/status')).map((p) => (JSON.parse(p.payload.toString()) as { seq: number }).seq));
    // the replay starts over after a restart, so the second run adds records; none of either run is missing
    expect(done['lastSeq']).toBeGreaterThan(22);
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: done['lastSeq'] as number }, (_, i) => i + 1));
  });
});

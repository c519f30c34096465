/**
 * Issue 3, kill -9 at every step of an update: a real agent process (Azure PdM replay, reference model
 * 1.0.0) gets a signed deployment of 1.3.0 from an in-test aedes broker whose chunk server plays the
 * controller, and SIGKILLs itself at one install step (PDM_AGENT_CRASH_AT). While it is dead the data
 * directory must name exactly one complete active model; restarted without the fault, the deployment
 * finishes by itself (a download resumes from pending.json, a trial continues), and every record the
 * agent ever committed arrives, the outbox whole. Then a trial that kills the agent on every start is
 * reverted as a crash loop.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestSchema, statusSchema, type Status } from '@pdm/protocol';
import { TestBroker } from '../../agent/src/testing/broker.js';
import { pointerSchema, type Pointer } from '../../agent/src/store/pointer.js';
import { ChunkServer, artifactsOf, manifestFor, newSigner, signManifest, trustConfig } from '../../agent/src/updates/testing.js';
import { crashSteps, type CrashStep } from '../../agent/src/updates/faults.js';
import { azureAgentConfig, repoRoot, startAgent, writeJson } from '../helpers/fleet.js';
import type { Program } from '../helpers/process.js';
import { readOutbox } from '../outbox/support.js';

const models = join(repoRoot, 'models/artifacts/azure-pdm-failure-24h');
const candidate = join(models, '1.3.0-noisy');
const signer = newSigner();
const root = mkdtempSync(join(tmpdir(), 'pdm-crash-steps-'));
let broker: TestBroker;
let server: ChunkServer;
const running: Program[] = [];

afterAll(async () => {
  for (const p of running) await p.stop('SIGKILL');
  await server?.stop();
  await broker?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * An agent replaying machine 3 at 100 rows a second. A `finishing` run replays 50 rows and exits once
 * every record, of this run and of the runs before, is acknowledged.
 */
function agent(deviceId: string, dataDir: string, crashAt?: CrashStep, maxBoots = 3, finishing = false): Program {
  const config = {
    ...azureAgentConfig({
      deviceId, machineId: 3, brokerUrl: broker.url, dataDir, speed: 360_000, heartbeatSeconds: 30, exitWhenDone: finishing, ...(finishing ? { maxRows: 50 } : {}),
    }),
    link: { reconnectInitialMs: 50, reconnectMaxMs: 200 },
    trust: trustConfig([signer]),
    updates: { trial: { inferences: 10, latencyBudgetMs: 1000, maxBoots } },
  };
  const file = writeJson(join(root, `${deviceId}.json`), config);
  const program = startAgent(deviceId, file, { logFile: join(root, `${deviceId}.log`), env: crashAt === undefined ? {} : { PDM_AGENT_CRASH_AT: crashAt } });
  running.push(program);
  return program;
}

const records = (deviceId: string, kind: string) =>
  broker.published.filter((p) => p.topic === `pdm/v1/${deviceId}/up/${kind}`).map((p) => JSON.parse(p.payload.toString()) as Record<string, unknown>);
const statuses = (deviceId: string, deploymentId: string) =>
  [...new Map(records(deviceId, 'deployment').map((r) => [r['seq'] as number, r])).values()]
    .sort((a, b) => (a['seq'] as number) - (b['seq'] as number))
    .filter((r) => r['deploymentId'] === deploymentId)
    .map((r) => r['status'] as string);

function pointerOf(dataDir: string): Pointer | undefined {
  const file = join(dataDir, 'models/state.json');
  return existsSync(file) ? pointerSchema.parse(JSON.parse(readFileSync(file, 'utf8'))) : undefined;
}

/**
 * What the data directory says is active, checked complete: a version directory whose every artifact
 * hashes to its verified manifest, or (no pointer, or a `config` entry) the configured model.
 */
function activeOnDisk(dataDir: string): string {
  const active = pointerOf(dataDir)?.active;
  if (active === undefined || active.kind === 'config') return 'configured 1.0.0';
  const dir = join(dataDir, 'models/versions', active.dir);
  const manifest = manifestSchema.parse(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  for (const a of manifest.artifacts) {
    const bytes = readFileSync(join(dir, a.name));
    expect(bytes.length, `${a.name} length`).toBe(a.length);
    expect(createHash('sha256').update(bytes).digest('hex'), `${a.name} sha256`).toBe(a.sha256);
  }
  expect(manifest.model).toEqual(active.model);
  return `${active.model.version} r${active.release}`;
}

/** The active model on disk right after the kill, per step. */
const expectedWhileDead: Record<CrashStep, string> = {
  'after-download': 'configured 1.0.0',
  'after-write': 'configured 1.0.0',
  'after-rename': 'configured 1.0.0',
  'after-pointer': '1.3.0-noisy r1',
  'in-trial': '1.3.0-noisy r1',
};

const dirs = (dataDir: string, sub: string) => (existsSync(join(dataDir, 'models', sub)) ? readdirSync(join(dataDir, 'models', sub)).sort() : []);

/** The files on disk show the step the agent died at. */
function expectStepOnDisk(step: CrashStep, dataDir: string): void {
  const { artifacts } = artifactsOf(candidate);
  switch (step) {
    case 'after-download':
      expect(dirs(dataDir, 'versions')).toEqual([]);
      expect(dirs(dataDir, '.partial')).toEqual(artifacts.map((a) => a.sha256).sort());
      for (const a of artifacts) expect(createHash('sha256').update(readFileSync(join(dataDir, 'models/.partial', a.sha256))).digest('hex')).toBe(a.sha256);
      return;
    case 'after-write': {
      expect(dirs(dataDir, 'versions')).toEqual([]);
      const [temp, ...more] = dirs(dataDir, '.tmp');
      expect(more).toEqual([]);
      expect(dirs(dataDir, `.tmp/${temp}`)).toEqual(['card.json', 'manifest.json', 'model.onnx']);
      return;
    }
    case 'after-rename':
      expect(dirs(dataDir, 'versions')).toHaveLength(1);
      expect(dirs(dataDir, '.tmp')).toEqual([]);
      expect(pointerOf(dataDir)).toBeUndefined();
      return;
    case 'after-pointer':
    case 'in-trial':
      expect(dirs(dataDir, 'versions')).toHaveLength(1);
      expect(pointerOf(dataDir)?.trial).toMatchObject({ boots: 0 });
  }
}

async function deploy(deviceId: string, deploymentId: string): Promise<void> {
  const manifest = manifestFor(candidate, { deviceId, release: 1, deploymentId });
  await server.command(deviceId, { id: `cmd-${deploymentId}`, time: new Date().toISOString(), type: 'deploy', envelope: signManifest(manifest, [signer]) });
}

function lastStatus(deviceId: string): Status {
  const all = broker.published.filter((p) => p.topic === `pdm/v1/${deviceId}/up/status`);
  return statusSchema.parse(JSON.parse(all.at(-1)!.payload.toString()));
}

/** Seqs of every record the device published (not status, replies or fetch requests), after dedup. */
function deliveredSeqs(deviceId: string): Set<number> {
  const kinds = new Set(['status', 'reply', 'fetch']);
  return new Set(
    broker.published
      .filter((p) => p.topic.startsWith(`pdm/v1/${deviceId}/up/`) && !kinds.has(p.topic.split('/').at(-1)!))
      .map((p) => (JSON.parse(p.payload.toString()) as { seq: number }).seq),
  );
}

describe('kill -9 at each step of an update', () => {
  beforeAll(async () => {
    broker = new TestBroker();
    await broker.start();
    server = new ChunkServer();
    await server.start(broker.url);
    server.add(artifactsOf(candidate).bytes);
  });

  for (const step of crashSteps) {
    it(`killed ${step}: one complete model active while dead; after a restart the deployment commits and no record is lost`, async () => {
      const deviceId = `gw-${step}`;
      const dataDir = join(root, deviceId);
      const first = agent(deviceId, dataDir, step);
      await first.waitFor('agent ready', 30_000);
      await deploy(deviceId, `d-${step}`);
      const exit = await first.exited;
      expect(exit.signal).toBe('SIGKILL');
      // the line is written before the kill; the pipe may deliver it after the exit event
      await until('the fault injection line', () => first.lines.some((l) => l.msg === 'fault injection: killing the agent' && l['step'] === step), 5_000);
      expectStepOnDisk(step, dataDir);

      expect(activeOnDisk(dataDir)).toBe(expectedWhileDead[step]);
      const pointer = pointerOf(dataDir);
      if (step === 'after-pointer' || step === 'in-trial') expect(pointer?.trial).toMatchObject({ role: 'active', deploymentId: `d-${step}`, boots: 0 });
      else expect(pointer).toBeUndefined();
      expect(readOutbox(dataDir).integrity).toBe('ok');

      const second = agent(deviceId, dataDir);
      await until(`d-${step} committed`, () => statuses(deviceId, `d-${step}`).includes('committed'), 60_000);
      await second.stop('SIGTERM');
      const seen = statuses(deviceId, `d-${step}`);
      expect(seen[0]).toBe('received');
      expect(seen.at(-1)).toBe('committed');
      expect(seen.filter((s) => s === 'committed')).toHaveLength(1);
      expect(seen.some((s) => s.startsWith('failed:') || s.startsWith('rejected:'))).toBe(false);
      expect(activeOnDisk(dataDir)).toBe('1.3.0-noisy r1');
      expect(pointerOf(dataDir)).toMatchObject({ active: { kind: 'store' }, previous: { kind: 'config' } });
      expect(pointerOf(dataDir)!.trial).toBeUndefined();
      expect(JSON.parse(readFileSync(join(dataDir, 'models/pending.json'), 'utf8')).queue).toEqual([]);
      // a last run delivers what is left in the outbox and still runs the committed version
      const third = agent(deviceId, dataDir, undefined, 3, true);
      const done = await third.waitFor('agent done', 60_000);
      expect((await third.exited).code).toBe(0);
      expect(lastStatus(deviceId).models).toEqual([
        { name: 'azure-pdm-failure-24h', version: '1.3.0-noisy', role: 'active', release: 1, mode: 'alert', deploymentId: `d-${step}` },
      ]);
      const outbox = readOutbox(dataDir);
      expect(outbox).toMatchObject({ integrity: 'ok', depth: 0, lastSeq: done['lastSeq'], dropped: {} });
      // every seq the agent ever committed, in both lives, reached the broker (after dedup), none missing
      const seqs = deliveredSeqs(deviceId);
      expect(seqs.size).toBe(outbox.lastSeq);
      expect(Math.max(...seqs)).toBe(outbox.lastSeq);
    });
  }

  it('a trial that kills the agent at every start is reverted as a crash loop, with the configured model active', async () => {
    const deviceId = 'gw-crash-loop';
    const dataDir = join(root, deviceId);
    const first = agent(deviceId, dataDir, 'in-trial', 2);
    await first.waitFor('agent ready', 30_000);
    await deploy(deviceId, 'd-loop');
    expect((await first.exited).signal).toBe('SIGKILL');
    for (const boots of [1, 2]) {
      const again = agent(deviceId, dataDir, 'in-trial', 2);
      expect((await again.exited).signal).toBe('SIGKILL');
      expect(pointerOf(dataDir)!.trial).toMatchObject({ deploymentId: 'd-loop', boots });
      expect(activeOnDisk(dataDir)).toBe('1.3.0-noisy r1');
    }
    const last = agent(deviceId, dataDir, 'in-trial', 2);
    await until('crash loop reverted', () => statuses(deviceId, 'd-loop').includes('reverted'));
    expect(statuses(deviceId, 'd-loop').slice(-2)).toEqual(['failed:crash-loop', 'reverted']);
    expect(activeOnDisk(dataDir)).toBe('configured 1.0.0');
    await last.stop('SIGTERM');
    expect(lastStatus(deviceId).models).toEqual([{ name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active' }]);
  });
});

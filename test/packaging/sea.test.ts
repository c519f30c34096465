/**
 * Issue 7: the release tarball of the agent, unpacked outside the repo, runs with no node_modules.
 * `npm run build:agent` (through ensureArtifact) builds it first; the executable embeds Node 24 LTS.
 *
 * Which Node runs what here: the test runner, the build script and the controller run on this
 * machine's Node (20); the agent under test is the single executable, i.e. Node 24 with the
 * better-sqlite3 built for Node 24's ABI. So this is the end-to-end scenario with a Node 24 agent:
 * it loads the reference model, infers, commits to its outbox and delivers to a real controller.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usage } from '../../agent/src/usage.js';
import { NODE_VERSION } from '../../agent/packaging/node24.js';
import { azureAgentConfig, startController, writeJson, type ControllerHandle } from '../helpers/fleet.js';
import { binIn, ensureArtifact, logLines, runProgram, unpack } from './artifact.js';
import { Mosquitto } from './mosquitto.js';

interface DeviceView {
  deviceId: string;
  state: string;
  agentVersion?: string;
  models: { name: string; version: string; role: string }[];
  seq: { contiguous: number; max: number; stored: number; missing: number };
}

const ROWS = 600;

describe('the pdm-agent single executable (Node 24 SEA)', () => {
  let dir: string;
  let release: string;
  let version: string;

  beforeAll(async () => {
    const built = await ensureArtifact();
    version = built.version;
    dir = mkdtempSync(join(tmpdir(), 'pdm-sea-'));
    await unpack(built.tarball, join(dir, 'unpacked'));
    release = join(dir, 'unpacked', built.name);
  }, 600_000);

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the executable, its native files and what installing needs', () => {
    const info = JSON.parse(readFileSync(join(release, 'BUILD-INFO.json'), 'utf8')) as Record<string, unknown>;
    expect(info).toMatchObject({ version, node: `v${NODE_VERSION}`, abi: '137' });
    for (const file of ['pdm-agent', 'native/better_sqlite3.node', 'native/onnxruntime_binding.node', 'native/libonnxruntime.so.1',
      'install.sh', 'agent.example.json', 'systemd/pdm-agent.service', 'licenses/node.LICENSE']) {
      expect(() => readFileSync(join(release, file)), file).not.toThrow();
    }
  });

  it('prints its version and the Node it embeds, from any directory', async () => {
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    const ran = await runProgram(binIn(release), ['--version'], { cwd: elsewhere });
    expect(ran).toMatchObject({ code: 0, stderr: '' });
    expect(ran.stdout).toBe(`pdm-agent ${version} (node v${NODE_VERSION}, linux-x64)\n`);
  });

  it('prints the same --help as the sources, and exits 2 listing every problem of a bad config', async () => {
    const help = await runProgram(binIn(release), ['--help'], { cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(usage());
    const bad = await runProgram(binIn(release), ['--device-id', 'no spaces allowed'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/deviceId/);
    expect(bad.stderr).toMatch(/assetId/);
    expect(bad.stderr).toMatch(/model/);
  });

  describe('end to end against a controller process', () => {
    let controller: ControllerHandle;

    beforeAll(async () => {
      controller = await startController({ dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log') });
    });

    afterAll(async () => {
      await controller?.stop();
    });

    it('loads the reference model, infers, buffers and delivers every record: the controller stores 1..lastSeq', async () => {
      const deviceId = 'gw-sea-1';
      const work = join(dir, deviceId);
      mkdirSync(work, { recursive: true });
      // the data dir is relative: the agent writes under its working directory, far from the repo
      const config = writeJson(join(work, 'agent.json'), {
        ...azureAgentConfig({ deviceId, machineId: 4, brokerUrl: controller.mqttUrl, dataDir: 'data', maxRows: ROWS, exitWhenDone: true, passwordFile: await controller.enroll(deviceId) }),
      });
      const ran = await runProgram(binIn(release), ['--config', config], { cwd: work, timeoutMs: 120_000 });
      const lines = logLines(ran.stdout);
      expect(ran.code, ran.stderr + ran.stdout.slice(-2000)).toBe(0);
      expect(lines.filter((l) => typeof l['level'] === 'number' && l['level'] >= 50)).toEqual([]);
      const ready = lines.find((l) => l['msg'] === 'agent ready')!;
      expect(ready['model']).toEqual({ name: 'azure-pdm-failure-24h', version: '1.0.0' });
      const done = lines.find((l) => l['msg'] === 'agent done')!;
      const lastSeq = Number(done['lastSeq']);
      expect(Number(done['readings'])).toBe(ROWS);
      expect(Number(done['predictions'])).toBeGreaterThan(ROWS / 2);
      expect(Number(done['inferenceErrors'])).toBe(0);
      expect(Number(done['outboxDepth'])).toBe(0);
      expect(lastSeq).toBeGreaterThan(10);
      expect(readFileSync(join(work, 'data', 'outbox.sqlite')).subarray(0, 15).toString()).toBe('SQLite format 3');

      const view = await until(async () => {
        const body = await controller.get<{ devices: DeviceView[] }>('/api/v1/devices');
        const d = body.devices.find((x) => x.deviceId === deviceId);
        return d !== undefined && d.seq.max === lastSeq ? d : undefined;
      });
      expect(view.seq).toMatchObject({ contiguous: lastSeq, max: lastSeq, stored: lastSeq, missing: 0 });
      expect(view.models).toEqual([expect.objectContaining({ name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active' })]);
    });
  });

  describe('through the shipped Mosquitto config, logged in with its password file', () => {
    let broker: Mosquitto;

    beforeAll(async () => {
      broker = await Mosquitto.prepare(join(dir, 'mosquitto'), ['pdm-controller', 'gw-sea-mq']);
      await broker.start();
    });

    afterAll(async () => {
      await broker?.stop();
    });

    it('delivers records 1..lastSeq to the controller user, as user = client id = deviceId', async () => {
      const deviceId = 'gw-sea-mq';
      // the controller's side, as the ACL grants it: every device's up/ topics
      const seqs = new Set<number>();
      const statuses: string[] = [];
      const controllerUser = mqtt.connect(broker.url, {
        protocolVersion: 5, reconnectPeriod: 0, clientId: 'pdm-controller', username: 'pdm-controller', password: broker.password('pdm-controller'),
      });
      controllerUser.on('message', (topic, payload) => {
        const body = JSON.parse(payload.toString('utf8')) as { deviceId?: string; seq?: number; state?: string };
        expect(body.deviceId).toBe(deviceId);
        if (topic.endsWith('/up/status')) statuses.push(body.state ?? '?');
        else seqs.add(body.seq!);
      });
      await new Promise<void>((resolve, reject) => {
        controllerUser.once('connect', () => resolve());
        controllerUser.once('error', reject);
      });
      await controllerUser.subscribeAsync('pdm/v1/+/up/#', { qos: 1 });

      const work = join(dir, deviceId);
      mkdirSync(work, { recursive: true });
      writeFileSync(join(work, 'mqtt.password'), `${broker.password(deviceId)}\n`);
      const config = writeJson(join(work, 'agent.json'), {
        ...azureAgentConfig({ deviceId, machineId: 5, brokerUrl: broker.url, dataDir: 'data', maxRows: ROWS, exitWhenDone: true }),
        link: { passwordFile: 'mqtt.password' },
      });
      const ran = await runProgram(binIn(release), ['--config', config], { cwd: work, timeoutMs: 120_000 });
      expect(ran.code, ran.stderr + ran.stdout.slice(-2000)).toBe(0);
      const done = logLines(ran.stdout).find((l) => l['msg'] === 'agent done')!;
      const lastSeq = Number(done['lastSeq']);
      expect(lastSeq).toBeGreaterThan(10);
      await until(async () => (seqs.size >= lastSeq && statuses.includes('offline') ? true : undefined));
      expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
      expect(statuses.at(-1)).toBe('offline');
      await controllerUser.endAsync();
    });
  });
});

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting for every record to arrive');
    await new Promise((r) => setTimeout(r, 200));
  }
}

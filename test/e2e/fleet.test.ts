/**
 * Issue 2, end to end on real parts: a controller process (embedded aedes, SQLite, fastify) and two
 * agent processes replaying real Azure PdM telemetry through the reference ONNX model over MQTT.
 *
 * The suite runs twice: with the agent from sources under this Node (`node agent/dist/main.js`), and
 * with the agent as shipped, the single executable with Node 24 inside (issue 7), unpacked outside
 * the repository. The controller and the test runner stay on this machine's Node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binIn, ensureArtifact, runProgram, unpack } from '../packaging/artifact.js';
import { startAzureAgent, startController, type ControllerHandle } from '../helpers/fleet.js';
import type { LogLine, Program } from '../helpers/process.js';

interface DeviceView {
  deviceId: string;
  assetId: string;
  state: string;
  stateReason: string | null;
  models: { name: string; version: string; role: string }[];
  seq: { contiguous: number; max: number; stored: number; missing: number };
  counters: { readings: number; inferences: number; outboxDepth: number } | null;
}
interface DeviceDetail {
  device: DeviceView;
  stored: { records: Record<string, number>; predictionRows: number };
  predictions: { score: number }[];
}

const ROWS = 600;

/** Unpacks the release tarball (built once per machine by the real build script) and returns its executable. */
async function shippedAgent(into: string): Promise<string> {
  const build = await ensureArtifact();
  await unpack(build.tarball, into);
  const executable = binIn(join(into, build.name));
  const version = await runProgram(executable, ['--version'], { cwd: into });
  expect(version.stdout).toMatch(/\(node v24\./);
  return executable;
}

describe.each([
  { runtime: 'node agent/dist/main.js', shipped: false },
  { runtime: 'the single executable (Node 24)', shipped: true },
])('a fleet of two agents ($runtime) and a controller', ({ shipped }) => {
  let dir: string;
  let controller: ControllerHandle;
  let executable: string | undefined;
  const agents = new Map<string, Program>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-e2e-fleet-'));
    executable = shipped ? await shippedAgent(join(dir, 'release')) : undefined;
    controller = await startController({ dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log') });
    for (const machine of [1, 2]) {
      const deviceId = `gw-m${machine}`;
      agents.set(deviceId, startAzureAgent({
        deviceId, machineId: machine, brokerUrl: controller.mqttUrl, dataDir: join(dir, deviceId), passwordFile: await controller.enroll(deviceId),
        maxRows: ROWS, exitWhenDone: false, heartbeatSeconds: 1, logFile: join(dir, `${deviceId}.log`), executable,
      }));
    }
    // the first build of the executable on a machine compiles better-sqlite3 for Node 24 (about 2 minutes)
  }, 600_000);

  afterAll(async () => {
    for (const a of agents.values()) await a.stop('SIGKILL');
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function devices(): Promise<Map<string, DeviceView>> {
    const body = await controller.get<{ devices: DeviceView[] }>('/api/v1/devices');
    return new Map(body.devices.map((d) => [d.deviceId, d]));
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('shows both devices online with the model they run', async () => {
    const seen = await until('both devices online', async () => {
      const d = await devices();
      return ['gw-m1', 'gw-m2'].every((id) => d.get(id)?.state === 'online') ? d : undefined;
    });
    for (const id of ['gw-m1', 'gw-m2']) {
      expect(seen.get(id)!.models).toEqual([expect.objectContaining({ name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active' })]);
    }
  });

  it('delivers every record and prediction exactly once, then shows the devices offline', async () => {
    for (const a of agents.values()) await a.waitFor('source delivered', 60_000);
    const done = new Map<string, LogLine>();
    for (const [id, a] of agents) {
      const exit = await a.stop('SIGTERM');
      expect(exit.code, `${id} exit code`).toBe(0);
      done.set(id, await a.waitFor('agent stopped', 1000));
    }

    const after = await until('both devices offline', async () => {
      const d = await devices();
      return ['gw-m1', 'gw-m2'].every((id) => d.get(id)?.state === 'offline') ? d : undefined;
    });
    for (const [id, line] of done) {
      const view = after.get(id)!;
      const lastSeq = Number(line['lastSeq']);
      expect(lastSeq).toBeGreaterThan(10);
      expect(view.stateReason).toBe('stopped');
      // every committed record stored once: 1..lastSeq contiguous, nothing beyond, nothing missing
      expect(view.seq).toEqual({ contiguous: lastSeq, max: lastSeq, stored: lastSeq, missing: 0, behind: 0 });
      expect(Number(line['outboxDepth'])).toBe(0);

      const detail = await controller.get<DeviceDetail>(`/api/v1/devices/${id}?predictions=5`);
      expect(detail.stored.predictionRows, `${id} prediction rows`).toBe(Number(line['predictions']));
      expect(Number(line['predictions'])).toBeGreaterThan(ROWS / 2);
      expect(detail.stored.records['alerts'] ?? 0).toBe(Number(line['alerts']));
      expect(detail.predictions).toHaveLength(5);
    }
    const ingest = await controller.get<{ duplicates: number; invalid: { total: number } }>('/api/v1/ingest');
    expect(ingest.invalid.total).toBe(0);
  });

  it('marks a device offline through its last will when it dies without a goodbye', async () => {
    const deviceId = 'gw-m3';
    const agent = startAzureAgent({
      deviceId, machineId: 3, brokerUrl: controller.mqttUrl, dataDir: join(dir, deviceId), passwordFile: await controller.enroll(deviceId),
      maxRows: 50, exitWhenDone: false, heartbeatSeconds: 1, executable,
    });
    agents.set(deviceId, agent);
    await agent.waitFor('agent ready', 30_000);
    await until('gw-m3 online', async () => ((await devices()).get(deviceId)?.state === 'online' ? true : undefined));
    await agent.stop('SIGKILL');
    const view = await until('gw-m3 offline', async () => {
      const d = (await devices()).get(deviceId);
      return d?.state === 'offline' ? d : undefined;
    });
    expect(view.stateReason).toBe('lost');
  });
});

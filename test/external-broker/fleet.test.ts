/**
 * Issue 7, external broker end to end: a controller process in external mode (logged in to Debian's
 * Mosquitto with a password file) and two agent processes replaying Azure PdM telemetry through the
 * broker. Every record arrives exactly once, presence goes online -> offline (clean stop and last
 * will), and /metrics follows the traffic.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition } from '@pdm/controller';
import { startAzureAgent, startController, type ControllerHandle } from '../helpers/fleet.js';
import type { LogLine, Program } from '../helpers/process.js';
import { startMosquitto, type Mosquitto } from './mosquitto.js';
import { devicesOf, until, type DeviceView } from './poll.js';

const ROWS = 600;
const PASSWORD = 'controller-secret-7';

describe('a controller on an external Mosquitto broker and two agents', () => {
  let dir: string;
  let broker: Mosquitto;
  let controller: ControllerHandle;
  const agents = new Map<string, Program>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-e2e-external-'));
    broker = await startMosquitto({ dir, users: { 'pdm-controller': PASSWORD } });
    const passwordFile = join(dir, 'broker-password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    controller = await startController({
      dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log'),
      extraArgs: ['--broker-mode', 'external', '--broker-url', broker.url, '--broker-username', 'pdm-controller', '--broker-password-file', passwordFile],
    });
    for (const machine of [1, 2]) {
      const deviceId = `gw-x${machine}`;
      agents.set(deviceId, startAzureAgent({
        deviceId, machineId: machine, brokerUrl: broker.url, dataDir: join(dir, deviceId),
        maxRows: ROWS, exitWhenDone: false, heartbeatSeconds: 1, logFile: join(dir, `${deviceId}.log`),
      }));
    }
  });

  afterAll(async () => {
    for (const a of agents.values()) await a.stop('SIGKILL');
    await controller?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says so in its ready line: external mode, the broker URL without credentials, no MQTT port of its own', () => {
    expect(controller.ready).toMatchObject({ brokerMode: 'external', brokerUrl: broker.url, mqttPort: 0, wsPort: 0 });
    expect(controller.mqttUrl).toBe(broker.url);
    expect(JSON.stringify(controller.ready)).not.toContain(PASSWORD);
    expect(controller.program.lines.some((l) => JSON.stringify(l).includes(PASSWORD))).toBe(false);
  });

  it('shows both devices online, delivers every record exactly once, then shows them offline', async () => {
    await until('both devices online', async () => {
      const d = await devicesOf(controller);
      return ['gw-x1', 'gw-x2'].every((id) => d.get(id)?.state === 'online') ? d : undefined;
    });
    for (const a of agents.values()) await a.waitFor('source delivered', 90_000);
    const done = new Map<string, LogLine>();
    for (const [id, a] of agents) {
      expect((await a.stop('SIGTERM')).code, `${id} exit code`).toBe(0);
      done.set(id, await a.waitFor('agent stopped', 1000));
    }
    const after = await until('both devices offline', async () => {
      const d = await devicesOf(controller);
      return ['gw-x1', 'gw-x2'].every((id) => d.get(id)?.state === 'offline') ? d : undefined;
    });
    let records = 0;
    for (const [id, line] of done) {
      const lastSeq = Number(line['lastSeq']);
      expect(lastSeq).toBeGreaterThan(10);
      expect(Number(line['outboxDepth'])).toBe(0);
      const view: DeviceView = after.get(id)!;
      expect(view.stateReason).toBe('stopped');
      // every committed record stored once: 1..lastSeq contiguous, nothing beyond, nothing missing
      expect(view.seq).toMatchObject({ contiguous: lastSeq, max: lastSeq, stored: lastSeq, missing: 0 });
      records += lastSeq;
    }

    const m = parseExposition(await (await fetch(`${controller.httpUrl}/metrics`)).text());
    expect(m.value('pdm_devices', { state: 'offline' })).toBe(2);
    expect(m.value('pdm_ingest_records_stored_total')).toBe(records);
    expect(m.value('pdm_ingest_invalid_total') ?? 0).toBe(0);
    expect(m.value('pdm_link_messages_total', { outcome: 'handled' })).toBeGreaterThanOrEqual(records);
    expect(m.value('pdm_ingest_latency_seconds_count', { kind: 'predictions' })).toBeGreaterThan(0);
    expect(m.value('pdm_broker_link_connected')).toBe(1);
    expect(controller.program.errors()).toEqual([]);
    // the broker's own counts are Mosquitto's business
    expect(m.types.has('pdm_broker_clients_connected')).toBe(false);
  });

  it('marks a device offline through the last will Mosquitto publishes when it dies', async () => {
    const deviceId = 'gw-x3';
    const agent = startAzureAgent({ deviceId, machineId: 3, brokerUrl: broker.url, dataDir: join(dir, deviceId), maxRows: 50, exitWhenDone: false });
    agents.set(deviceId, agent);
    await agent.waitFor('agent ready', 30_000);
    await until('gw-x3 online', async () => ((await devicesOf(controller)).get(deviceId)?.state === 'online' ? true : undefined));
    await agent.stop('SIGKILL');
    const view = await until('gw-x3 offline', async () => {
      const d = (await devicesOf(controller)).get(deviceId);
      return d?.state === 'offline' ? d : undefined;
    });
    expect(view.stateReason).toBe('lost');
  });
});

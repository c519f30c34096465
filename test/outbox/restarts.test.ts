/**
 * Issue 4, broker restarts during a drain: an agent builds a backlog of ~2300 records with no broker,
 * then drains it while the broker is restarted twice on the same port. Zero loss is checked by seq:
 *
 * - embedded broker: the controller process itself is restarted (SIGTERM, then a new process on the
 *   same ports); the controller stores what it got before it stops, the agent resends the rest;
 * - Debian's mosquitto (started here, with persistence, on a free port): a test sink subscribes with a
 *   persistent session and stores every record by (deviceId, seq) in SQLite before its PUBACK, since
 *   the controller has no external-broker mode yet. mosquitto is restarted with SIGTERM, which saves its
 *   queues; a SIGKILLed broker can lose what it acknowledged and had not delivered (no broker claims
 *   otherwise), which is why the device's outbox, not the broker, is the system of record.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { recordKinds, allDevicesFilter } from '@pdm/protocol';
import { startController, type ControllerHandle } from '../helpers/fleet.js';
import type { Program } from '../helpers/process.js';
import { agentConfig, deviceDetail, freePort, readOutbox, runAgent, until, type IngestTotals } from './support.js';

const extra = {
  metricsWindowSeconds: 3600,
  inference: { maxBatchRows: 8 },
  forwarder: { maxInFlight: 64, drainRatePerSecond: 600 },
  link: { reconnectInitialMs: 50, reconnectMaxMs: 300 },
};

/** Replays 2000 hours with no broker reachable and stops: the backlog every test then drains. */
async function buildBacklog(dir: string, deviceId: string, brokerUrl: string): Promise<number> {
  const dataDir = join(dir, deviceId);
  const agent = runAgent(dir, `${deviceId}-offline`, agentConfig(
    { deviceId, machineId: 3, brokerUrl, dataDir, speed: 'max', maxRows: 2000, exitWhenDone: false }, extra,
  ));
  await agent.waitFor('replay finished', 60_000);
  expect((await agent.stop('SIGTERM')).code).toBe(0);
  const outbox = readOutbox(dataDir);
  expect(outbox.depth).toBe(outbox.lastSeq);
  return outbox.lastSeq;
}

/** The same device once a broker is back; `passwordFile` when the broker wants device credentials. */
function drainingAgent(dir: string, deviceId: string, brokerUrl: string, passwordFile?: string): Program {
  return runAgent(dir, `${deviceId}-drain`, agentConfig(
    { deviceId, machineId: 3, brokerUrl, dataDir: join(dir, deviceId), speed: 'max', maxRows: 24, exitWhenDone: true, ...(passwordFile === undefined ? {} : { passwordFile }) }, extra,
  ));
}

describe('broker restarts during a drain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdm-restarts-'));
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
    rmSync(dir, { recursive: true, force: true });
  });

  it('embedded broker: the controller restarted twice on the same ports loses nothing', { timeout: 120_000 }, async () => {
    const deviceId = 'gw-restart';
    const ports = { http: await freePort(), mqtt: await freePort(), ws: await freePort() };
    const backlog = await buildBacklog(dir, deviceId, `mqtt://127.0.0.1:${ports.mqtt}`);
    const start = () => startController({ dataDir: join(dir, 'controller'), ports, logFile: join(dir, 'controller.log') });
    let controller: ControllerHandle = await start();
    cleanup.push(() => controller.stop());
    // enrolled once the controller exists: the backlog was built with no broker at all
    const agent = drainingAgent(dir, deviceId, controller.mqttUrl, await controller.enroll(deviceId));
    cleanup.push(() => agent.stop('SIGKILL'));

    const stored = async () => (await deviceDetail(controller, deviceId).catch(() => undefined))?.device.seq.stored ?? 0;
    const restartsAt: number[] = [];
    for (const mark of [Math.floor(backlog / 4), Math.floor(backlog / 2)]) {
      restartsAt.push(await until(`${mark} records stored`, async () => ((await stored()) >= mark ? stored() : undefined)));
      expect((await controller.program.stop('SIGTERM')).code).toBe(0);
      controller = await start();
    }
    const done = await agent.waitFor('agent done', 90_000);
    expect((await agent.exited).code).toBe(0);
    const committed = Number(done['lastSeq']);
    expect(readOutbox(join(dir, deviceId))).toMatchObject({ lastSeq: committed, depth: 0, integrity: 'ok' });
    const detail = await until('every seq stored', async () => {
      const d = await deviceDetail(controller, deviceId);
      return d.device.seq.max >= committed ? d : undefined;
    });
    expect(detail.device.seq).toMatchObject({ contiguous: committed, max: committed, stored: committed, missing: 0 });
    expect(detail.seqGaps.gaps).toEqual([]);
    const totals = await controller.get<IngestTotals>('/api/v1/ingest');
    expect(totals.conflicts).toBe(0);
    // the agent really lost its broker mid-drain, twice, and resent what was unacknowledged
    expect(agent.lines.filter((l) => l.msg === 'link up').length).toBeGreaterThanOrEqual(3);
    console.log(JSON.stringify({ proof: 'embedded-broker-restarts', backlog, committed, restartsAt, duplicatesDropped: totals.duplicates }));
  });

  it('mosquitto: restarted twice during the drain, a persistent subscriber gets every seq', { timeout: 120_000 }, async () => {
    const deviceId = 'gw-mosq';
    const port = await freePort();
    const backlog = await buildBacklog(dir, deviceId, `mqtt://127.0.0.1:${port}`);
    const broker = new Mosquitto(join(dir, 'mosquitto'), port);
    await broker.start();
    cleanup.push(() => broker.stop('SIGKILL'));
    const sink = new SeqSink(join(dir, 'sink.sqlite'));
    await sink.connect(`mqtt://127.0.0.1:${port}`);
    cleanup.push(() => sink.close());
    const agent = drainingAgent(dir, deviceId, `mqtt://127.0.0.1:${port}`);
    cleanup.push(() => agent.stop('SIGKILL'));

    const restartsAt: number[] = [];
    for (const mark of [Math.floor(backlog / 4), Math.floor(backlog / 2)]) {
      restartsAt.push(await until(`${mark} records at the sink`, () => (sink.count(deviceId) >= mark ? sink.count(deviceId) : undefined)));
      await broker.stop('SIGTERM');
      await broker.start();
    }
    const done = await agent.waitFor('agent done', 90_000);
    expect((await agent.exited).code).toBe(0);
    const committed = Number(done['lastSeq']);
    expect(readOutbox(join(dir, deviceId))).toMatchObject({ lastSeq: committed, depth: 0, integrity: 'ok' });
    await until('every seq at the sink', () => (sink.count(deviceId) >= committed ? true : undefined));
    expect(sink.seqs(deviceId)).toEqual(Array.from({ length: committed }, (_, i) => i + 1));
    // the broker did save its queues at each stop (it silently cannot when its directory is not writable)
    expect(readFileSync(join(dir, 'mosquitto', 'mosquitto.log'), 'utf8')).not.toMatch(/Error saving/);
    expect(sink.conflicts).toBe(0);
    expect(agent.lines.filter((l) => l.msg === 'link up').length).toBeGreaterThanOrEqual(3);
    console.log(JSON.stringify({ proof: 'mosquitto-restarts', backlog, committed, restartsAt, duplicatesDropped: sink.duplicates }));
  });
});

/** Debian's mosquitto on a given port, persistence on, queues big enough for the backlog. */
class Mosquitto {
  private child: ChildProcess | undefined;
  private readonly conf: string;

  constructor(private readonly dir: string, private readonly port: number) {
    mkdirSync(dir, { recursive: true });
    this.conf = join(dir, 'mosquitto.conf');
    writeFileSync(this.conf, [
      `listener ${port} 127.0.0.1`,
      // started as root, mosquitto would drop to its own user and could not write its queues in our temp dir
      `user ${userInfo().username}`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      // the default (1000) silently drops the rest of a queue (PLATFORM.md)
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'));
  }

  async start(): Promise<void> {
    const log = openSync(join(this.dir, 'mosquitto.log'), 'a');
    this.child = spawn('mosquitto', ['-c', this.conf], { stdio: ['ignore', 'ignore', log] });
    closeSync(log);
    await until('mosquitto listening', () => new Promise<true | undefined>((resolve) => {
      const socket = connect(this.port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(undefined));
    }), 10_000);
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}

/** Stores every record it receives by (deviceId, seq) before mqtt.js sends the PUBACK. */
class SeqSink {
  private readonly db: Database.Database;
  private client: mqtt.MqttClient | undefined;
  duplicates = 0;
  conflicts = 0;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec('CREATE TABLE seen (device_id TEXT NOT NULL, seq INTEGER NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (device_id, seq))');
  }

  async connect(url: string): Promise<void> {
    const insert = this.db.prepare('INSERT OR IGNORE INTO seen (device_id, seq, sha) VALUES (?, ?, ?)');
    const existing = this.db.prepare('SELECT sha FROM seen WHERE device_id = ? AND seq = ?').pluck();
    this.client = await mqtt.connectAsync(url, { clientId: 'pdm-test-sink', clean: false, reconnectPeriod: 200, protocolVersion: 4 });
    // mqtt.js emits 'message' and only then sends the PUBACK: the row is written first
    this.client.on('message', (_topic, payload) => {
      const record = JSON.parse(payload.toString('utf8')) as { deviceId: string; seq: number };
      const sha = createHash('sha256').update(payload).digest('hex');
      if (insert.run(record.deviceId, record.seq, sha).changes === 1) return;
      if (existing.get(record.deviceId, record.seq) === sha) this.duplicates++;
      else this.conflicts++;
    });
    await this.client.subscribeAsync(recordKinds.map((k) => allDevicesFilter(k)), { qos: 1 });
  }

  count(deviceId: string): number {
    return this.db.prepare('SELECT count(*) FROM seen WHERE device_id = ?').pluck().get(deviceId) as number;
  }

  seqs(deviceId: string): number[] {
    return this.db.prepare('SELECT seq FROM seen WHERE device_id = ? ORDER BY seq').pluck().all(deviceId) as number[];
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true);
    this.db.close();
  }
}

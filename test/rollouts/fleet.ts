/**
 * A fleet for the cross-process rollout tests: the built controller (its own process, embedded
 * broker) and real agent processes replaying Azure PdM machines, each trusting the controller's key
 * set file and connected through a LinkProxy that can cut their links. Talks to the controller over
 * its HTTP API with the admin token it generated.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { azureAgentConfig, repoRoot, startAgent, startController, writeJson, type ControllerHandle } from '../helpers/fleet.js';
import type { Program } from '../helpers/process.js';
import { LinkProxy } from './link-proxy.js';

export const MODEL = 'azure-pdm-failure-24h';
const artifacts = join(repoRoot, 'models/artifacts', MODEL);

export interface DeviceModel { name: string; version: string; role: string; release?: number; trial?: boolean; deploymentId?: string }
export interface DeviceView { deviceId: string; state: string; models: DeviceModel[] }

export interface AgentOptions {
  /** Azure PdM machine 1-15 whose telemetry the agent replays. */
  machineId: number;
  /** Multiple of real time on event time: 18 000 is five hourly rows a second. */
  speed: number;
  /** Rows replayed at most (the replay must outlast the test, but parsing costs CPU). */
  maxRows?: number;
}

export class RolloutFleet {
  readonly root = mkdtempSync(join(tmpdir(), 'pdm-rollouts-'));
  readonly agents = new Map<string, { program: Program | undefined; options: AgentOptions }>();
  controller!: ControllerHandle;
  proxy!: LinkProxy;
  brokerUrl!: string;
  token!: string;

  async start(flags: string[]): Promise<void> {
    this.controller = await startController({ dataDir: join(this.root, 'controller'), logFile: join(this.root, 'controller.log'), extraArgs: flags });
    this.token = readFileSync(join(this.root, 'controller', 'admin.token'), 'utf8').trim();
    this.proxy = new LinkProxy({ host: '127.0.0.1', port: this.controller.ports.mqtt });
    this.brokerUrl = await this.proxy.start();
  }

  async stop(keep: boolean): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.program?.stop('SIGTERM').catch(() => undefined)));
    await this.proxy?.stop();
    await this.controller?.stop();
    // the logs stay for a post-mortem when a test failed
    if (!keep) rmSync(this.root, { recursive: true, force: true });
  }

  async api<T = any>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.controller.httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  /** Publishes a committed artifact, optionally under another version (its card says so). */
  async publish(dir: string, version?: string): Promise<void> {
    const card = JSON.parse(readFileSync(join(artifacts, dir, 'card.json'), 'utf8')) as Record<string, unknown>;
    if (version !== undefined) card.version = version;
    const res = await this.api('POST', '/api/v1/models', {
      name: MODEL, version: card.version, card, model: readFileSync(join(artifacts, dir, 'model.onnx')).toString('base64'), reason: `publish ${dir}`,
    });
    assert.ok(res.status === 201 || res.status === 200, `publish ${dir}: ${res.status} ${JSON.stringify(res.body)}`);
  }

  /** Enrolls devices with the controller; each one's password file is then `passwordFile(deviceId)`. */
  async enroll(deviceIds: readonly string[]): Promise<void> {
    for (const deviceId of deviceIds) await this.controller.enroll(deviceId, { file: this.passwordFile(deviceId) });
  }

  passwordFile(deviceId: string): string {
    return join(this.root, `${deviceId}.password`);
  }

  /** Starts (or restarts, same data directory) an enrolled agent that runs the configured reference model 1.0.0. */
  startAgent(deviceId: string, options: AgentOptions): Program {
    const dataDir = join(this.root, deviceId);
    mkdirSync(dataDir, { recursive: true });
    const config = {
      ...azureAgentConfig({ deviceId, machineId: options.machineId, brokerUrl: this.brokerUrl, dataDir, speed: options.speed, heartbeatSeconds: 1, exitWhenDone: false, ...(options.maxRows === undefined ? {} : { maxRows: options.maxRows }) }),
      link: { reconnectInitialMs: 100, reconnectMaxMs: 400, passwordFile: this.passwordFile(deviceId) },
      trust: { keySetFile: join(this.root, 'controller', 'keys', 'trust.json') },
      updates: { trial: { inferences: 10, latencyBudgetMs: 250 }, download: { chunkTimeoutMs: 5000, retries: 10, retryMaxMs: 2000 } },
    };
    const program = startAgent(deviceId, writeJson(join(this.root, `${deviceId}.json`), config), { logFile: join(this.root, `${deviceId}.log`) });
    this.agents.set(deviceId, { program, options });
    return program;
  }

  async stopAgent(deviceId: string): Promise<void> {
    const a = this.agents.get(deviceId)!;
    await a.program?.stop('SIGTERM');
    a.program = undefined;
  }

  async devices(): Promise<Map<string, DeviceView>> {
    const body = (await this.api<{ devices: DeviceView[] }>('GET', '/api/v1/devices')).body;
    return new Map(body.devices.map((d) => [d.deviceId, d]));
  }

  async rollout(id: string): Promise<any> {
    return (await this.api('GET', `/api/v1/rollouts/${id}`)).body.rollout;
  }

  /** Polls (100 ms) until `check` returns something truthy; fails naming `what` after `ms`. */
  async until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export const activeOf = (d: DeviceView | undefined): DeviceModel | undefined => d?.models.find((m) => m.role === 'active');

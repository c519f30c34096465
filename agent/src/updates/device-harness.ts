/**
 * A whole agent runtime for update tests: a real aedes broker, a chunk server acting as the
 * controller, and the runtime replaying Azure PdM telemetry of machine 3 with the reference model
 * 1.0.0 as its configured model. Deployment records and replies are read from what reached the broker.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../clock.js';
import { agentConfigSchema, type AgentConfig } from '../config/schema.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { TestBroker } from '../testing/broker.js';
import { silentLogger } from '../testing/logger.js';
import { waitFor } from '../testing/waiting.js';
import type { Envelope } from '@pdm/protocol';
import { ChunkServer, trustConfig, type Signer } from './testing.js';

const repo = new URL('../../../', import.meta.url).pathname;
export const azureModels = join(repo, 'models/artifacts/azure-pdm-failure-24h');
export const telemetry = join(repo, 'models/data/azure-pdm/PdM_telemetry_machines1-15_2015-01-01_to_2015-04-01.csv');

export interface DeviceSetup {
  readonly dataDir: string;
  readonly signers: readonly Signer[];
  readonly deviceId?: string;
  /** Replay pace (multiple of real time on hourly data), or 'max'. */
  readonly speed?: number | 'max';
  readonly maxRows?: number;
  /** Extra top-level config fields (updates, actions, trust...). */
  readonly config?: Record<string, unknown>;
}

export interface DeploymentSeen {
  readonly deploymentId: string;
  readonly status: string;
  readonly detail?: string;
  readonly model: { name: string; version: string };
}

export class TestDevice {
  runtime: Runtime | undefined;
  private commandCounter = 0;

  private constructor(
    readonly setup: DeviceSetup,
    readonly broker: TestBroker,
    readonly server: ChunkServer,
    readonly config: AgentConfig,
  ) {}

  static async start(setup: DeviceSetup): Promise<TestDevice> {
    const broker = new TestBroker();
    await broker.start();
    const server = new ChunkServer();
    await server.start(broker.url);
    const deviceId = setup.deviceId ?? 'edge-u';
    const config = agentConfigSchema.parse({
      deviceId,
      assetId: 'machine-3',
      assetClass: 'azure-model3',
      site: 'plant-a',
      brokerUrl: broker.url,
      dataDir: setup.dataDir,
      model: join(azureModels, '1.0.0'),
      heartbeatSeconds: 3600,
      metricsWindowSeconds: 86_400,
      link: { reconnectInitialMs: 20, reconnectMaxMs: 200 },
      trust: trustConfig(setup.signers),
      source: {
        type: 'replay-csv', file: telemetry, filter: 'machineID=3', timeColumn: 'datetime', speed: setup.speed ?? 'max',
        ...(setup.maxRows === undefined ? {} : { maxRows: setup.maxRows }),
      },
      ...setup.config,
    });
    const device = new TestDevice(setup, broker, server, config);
    await device.boot();
    return device;
  }

  get deviceId(): string {
    return this.config.deviceId;
  }

  get rt(): Runtime {
    return this.runtime!;
  }

  /** Starts (again) a runtime on the same data directory. */
  async boot(): Promise<void> {
    this.runtime = await createRuntime(this.config, { clock: systemClock, log: silentLogger });
    await this.runtime.agent.start();
    await waitFor(() => this.runtime!.link.connected, 'agent connected');
  }

  async halt(): Promise<void> {
    await this.runtime?.agent.stop();
    this.runtime = undefined;
  }

  async stop(): Promise<void> {
    await this.halt();
    await this.server.stop();
    await this.broker.stop();
  }

  /** Sends a command as the controller and waits for the device's reply. */
  async command(type: 'deploy' | 'trust-keys', envelope: Envelope): Promise<Record<string, unknown>> {
    const id = `c${++this.commandCounter}-${Math.random().toString(36).slice(2, 6)}`;
    await this.server.command(this.deviceId, { id, time: new Date().toISOString(), type, envelope });
    await waitFor(() => this.replies().some((r) => r['commandId'] === id), `reply to ${id}`);
    return this.replies().find((r) => r['commandId'] === id)!;
  }

  deploy(envelope: Envelope): Promise<Record<string, unknown>> {
    return this.command('deploy', envelope);
  }

  replies(): Record<string, unknown>[] {
    return this.broker.payloads('/up/reply');
  }

  /** Deployment records that reached the broker, in seq order, duplicates dropped. */
  deployments(): DeploymentSeen[] {
    const bySeq = new Map<number, DeploymentSeen & { seq: number }>();
    for (const p of this.broker.payloads('/up/deployment')) bySeq.set(p['seq'] as number, p as never);
    return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  statuses(deploymentId: string): string[] {
    return this.deployments().filter((d) => d.deploymentId === deploymentId).map((d) => d.status);
  }

  async waitStatus(deploymentId: string, status: string, timeoutMs = 15_000): Promise<void> {
    await waitFor(() => this.statuses(deploymentId).includes(status), () => `${deploymentId} ${status} (seen: ${this.statuses(deploymentId).join(', ')})`, timeoutMs);
  }

  file(name: string): Buffer | undefined {
    try {
      return readFileSync(join(this.config.dataDir, name));
    } catch {
      return undefined;
    }
  }

  /** What the device says runs (status models[]) and what the pipeline scores with. */
  running(): { models: unknown; active: string; shadow: string | undefined } {
    const set = this.rt.updates.slots.current();
    const ref = (r: { name: string; version: string }) => `${r.name}@${r.version}`;
    return { models: this.rt.updates.models(), active: ref(set.active.model.ref), shadow: set.shadow === undefined ? undefined : ref(set.shadow.model.ref) };
  }
}

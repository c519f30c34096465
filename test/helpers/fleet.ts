/**
 * Starts real pdm programs for cross-process tests and the demo: the built controller and agents
 * (`<pkg>/dist/main.js`, so `tsc -b` must have run), each in its own OS process, talking real MQTT.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfigInput } from '@pdm/agent';
import { Program, type LogLine } from './process.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const controllerMain = join(repoRoot, 'controller/dist/main.js');
export const agentMain = join(repoRoot, 'agent/dist/main.js');
export const azureDir = join(repoRoot, 'models/data/azure-pdm');
export const azureTelemetry = join(azureDir, 'PdM_telemetry_machines1-15_2015-01-01_to_2015-04-01.csv');
export const referenceModelDir = join(repoRoot, 'models/artifacts/azure-pdm-failure-24h/1.0.0');

export interface ControllerHandle {
  program: Program;
  dataDir: string;
  httpUrl: string;
  /** Where devices connect: the embedded broker, or the external broker the controller uses. */
  mqttUrl: string;
  /** The controller's "controller ready" line. */
  ready: LogLine;
  wsUrl: string;
  ports: { http: number; mqtt: number; ws: number };
  get<T = unknown>(path: string): Promise<T>;
  stop(): Promise<void>;
}

export interface StartControllerOptions {
  dataDir: string;
  /** Fixed ports (for restarts on the same port); 0 picks free ones. */
  ports?: { http?: number; mqtt?: number; ws?: number };
  /**
   * More flags for the controller, e.g. an external broker:
   * `['--broker-mode', 'external', '--broker-url', url, '--broker-client-id', id, '--broker-shared-group', 'pdm']`.
   */
  extraArgs?: string[];
  env?: Record<string, string>;
  logFile?: string;
}

export async function startController(options: StartControllerOptions): Promise<ControllerHandle> {
  mkdirSync(options.dataDir, { recursive: true });
  const program = new Program('controller', {
    args: [
      controllerMain,
      '--data-dir', options.dataDir,
      '--host', '127.0.0.1',
      '--http-port', String(options.ports?.http ?? 0),
      '--mqtt-port', String(options.ports?.mqtt ?? 0),
      '--ws-port', String(options.ports?.ws ?? 0),
      ...(options.extraArgs ?? []),
    ],
    env: options.env,
    logFile: options.logFile,
  });
  const ready = await program.waitFor('controller ready', 30_000);
  const ports = { http: Number(ready['httpPort']), mqtt: Number(ready['mqttPort']), ws: Number(ready['wsPort']) };
  const httpUrl = `http://127.0.0.1:${ports.http}`;
  return {
    program,
    dataDir: options.dataDir,
    httpUrl,
    mqttUrl: ready['brokerMode'] === 'external' ? String(ready['brokerUrl']) : `mqtt://127.0.0.1:${ports.mqtt}`,
    ready,
    wsUrl: `ws://127.0.0.1:${ports.ws}`,
    ports,
    async get<T>(path: string): Promise<T> {
      const res = await fetch(`${httpUrl}${path}`);
      if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
    async stop() {
      await program.stop('SIGTERM');
    },
  };
}

export interface AzureAgentOptions {
  deviceId: string;
  machineId: number;
  brokerUrl: string;
  dataDir: string;
  /** Multiple of real time on event time, or 'max'. */
  speed?: number | 'max';
  maxRows?: number;
  exitWhenDone?: boolean;
  heartbeatSeconds?: number;
  modelDir?: string;
  assetClass?: string;
  site?: string;
  logFile?: string;
  env?: Record<string, string>;
  /** A pdm-agent executable to run instead of `node agent/dist/main.js`. */
  executable?: string;
}

/** The agent config for replaying one Azure PdM machine, with its failures and maintenance as events. */
export function azureAgentConfig(o: AzureAgentOptions): AgentConfigInput {
  return {
    deviceId: o.deviceId,
    assetId: `machine-${o.machineId}`,
    assetClass: o.assetClass ?? 'azure-pdm',
    site: o.site ?? 'plant-a',
    brokerUrl: o.brokerUrl,
    dataDir: o.dataDir,
    model: o.modelDir ?? referenceModelDir,
    heartbeatSeconds: o.heartbeatSeconds ?? 1,
    metricsWindowSeconds: 86_400,
    exitWhenDone: o.exitWhenDone ?? true,
    source: {
      type: 'replay-csv',
      file: azureTelemetry,
      filter: `machineID=${o.machineId}`,
      timeColumn: 'datetime',
      speed: o.speed ?? 'max',
      ...(o.maxRows === undefined ? {} : { maxRows: o.maxRows }),
      eventsFiles: [
        { file: join(azureDir, 'PdM_failures.csv'), type: 'failure' },
        { file: join(azureDir, 'PdM_maint.csv'), type: 'maintenance' },
      ],
    },
  };
}

export function writeJson(file: string, value: unknown): string {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  return file;
}

export interface AgentProcessOptions {
  logFile?: string;
  env?: Record<string, string>;
  /** A pdm-agent executable (the single-executable build); default `node agent/dist/main.js`. */
  executable?: string;
}

export function startAgent(name: string, configFile: string, options: AgentProcessOptions = {}): Program {
  const args = ['--config', configFile];
  return options.executable === undefined
    ? new Program(name, { args: [agentMain, ...args], logFile: options.logFile, env: options.env })
    : new Program(name, { command: options.executable, args, logFile: options.logFile, env: options.env });
}

export function startAzureAgent(o: AzureAgentOptions): Program {
  mkdirSync(o.dataDir, { recursive: true });
  const configFile = writeJson(join(o.dataDir, 'agent.json'), azureAgentConfig(o));
  return startAgent(o.deviceId, configFile, { logFile: o.logFile, env: o.env, executable: o.executable });
}

/**
 * Starts real pdm programs for cross-process tests and the demo: the built controller and agents
 * (`<pkg>/dist/main.js`, so `tsc -b` must have run), each in its own OS process, talking real MQTT.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
  /** The admin token the controller generated into its data directory at first start. */
  adminToken(): string;
  /**
   * Enrolls a device through the API (as the admin) and writes its password to `file` (default
   * `<dataDir>/device-passwords/<deviceId>.password`, mode 0600): the agent's `link.passwordFile`.
   */
  enroll(deviceId: string, options?: EnrollOptions): Promise<string>;
  /** Where `enroll` writes a device's password by default. */
  passwordFile(deviceId: string): string;
  stop(): Promise<void>;
}

export interface EnrollOptions {
  assetId?: string;
  assetClass?: string;
  site?: string;
  tags?: string[];
  /** Where the password goes; an existing file is replaced. */
  file?: string;
}

/** What POST /api/v1/devices/:id/enroll answers. */
export interface EnrollResponse {
  device: { deviceId: string; generation: number; state: string };
  password: string;
  agentConfig: Record<string, unknown>;
}

/** Enrolls a device through the controller's API; throws with the server's answer on any non-2xx. */
export async function enrollDevice(httpUrl: string, token: string, deviceId: string, options: EnrollOptions = {}): Promise<EnrollResponse> {
  const res = await fetch(`${httpUrl}/api/v1/devices/${encodeURIComponent(deviceId)}/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      assetId: options.assetId ?? deviceId, assetClass: options.assetClass ?? 'azure-pdm', site: options.site ?? 'plant-a', tags: options.tags ?? [],
    }),
  });
  if (res.status !== 201) throw new Error(`enroll ${deviceId}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as EnrollResponse;
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
  const handle: ControllerHandle = {
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
    adminToken() {
      return readFileSync(join(options.dataDir, 'admin.token'), 'utf8').trim();
    },
    async enroll(deviceId, enrollOptions = {}) {
      const issued = await enrollDevice(httpUrl, handle.adminToken(), deviceId, enrollOptions);
      const file = enrollOptions.file ?? handle.passwordFile(deviceId);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${issued.password}\n`, { mode: 0o600 });
      return file;
    },
    passwordFile(deviceId) {
      return join(options.dataDir, 'device-passwords', `${deviceId}.password`);
    },
    async stop() {
      await program.stop('SIGTERM');
    },
  };
  return handle;
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
  /** The device's MQTT password file (`ControllerHandle.enroll`); without it the agent logs in with no password. */
  passwordFile?: string;
  /** false: replay from the first row even if this data dir has a saved position (source.resume; default true). */
  resume?: boolean;
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
    ...(o.passwordFile === undefined ? {} : { link: { passwordFile: o.passwordFile } }),
    source: {
      type: 'replay-csv',
      file: azureTelemetry,
      filter: `machineID=${o.machineId}`,
      timeColumn: 'datetime',
      speed: o.speed ?? 'max',
      ...(o.maxRows === undefined ? {} : { maxRows: o.maxRows }),
      ...(o.resume === undefined ? {} : { resume: o.resume }),
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

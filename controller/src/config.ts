/**
 * The controller's configuration: one zod schema holding every default. Sources are merged in order
 * file (--config / PDM_CONTROLLER_CONFIG), then environment (PDM_CONTROLLER_*), then flags; the result
 * is validated once and frozen. A bad configuration fails with every problem listed, each naming the
 * source it came from, so an operator fixes them all in one go.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { PdmError } from '@pdm/protocol';
import { logLevels } from './logger.js';
import type { ApiReads } from './auth/guard.js';

/** Env and flag values are strings; numbers must be written as plain integers ("" is not 0). */
const integer = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v),
    z.number({ error: (issue) => (issue.code === 'invalid_type' ? 'expected an integer' : undefined) }).int().min(min).max(max),
  );

/** Env and flag values are strings: only "true" and "false" are booleans. */
const boolean = z.preprocess(
  (v) => (v === 'true' ? true : v === 'false' ? false : v),
  z.boolean({ error: (issue) => (issue.code === 'invalid_type' ? 'expected true or false' : undefined) }),
);

const BROKER_SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];
const brokerUrlSchema = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected a URL such as mqtts://broker.example:8883' });
    return;
  }
  if (!BROKER_SCHEMES.includes(url.protocol)) {
    ctx.addIssue({ code: 'custom', message: `expected one of ${BROKER_SCHEMES.map((s) => `${s}//`).join(', ')}` });
  }
  // Credentials in the URL would end up in the ready line and in logs.
  if (url.username !== '' || url.password !== '') {
    ctx.addIssue({ code: 'custom', message: 'must not hold credentials: use brokerUsername and brokerPassword(File)' });
  }
});

/** Env and flag values are strings; a plain decimal number ("0.25", "8") becomes a number. */
const decimal = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v.trim()) : v),
    z.number({ error: (issue) => (issue.code === 'invalid_type' ? 'expected a number' : undefined) }).min(min).max(max),
  );

const port = (fallback: number, what: string) =>
  integer(0, 65535).default(fallback).describe(`${what} (0 = pick a free port)`);

export const controllerConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default('./data/controller')
    .describe('directory for controller.db (created if missing; relative paths resolve against the working directory)'),
  host: z.string().min(1).default('127.0.0.1')
    .describe('address the HTTP, MQTT and MQTT-over-WebSocket listeners bind to (0.0.0.0 for all interfaces)'),
  httpPort: port(8080, 'HTTP API port'),
  mqttPort: port(1883, 'embedded broker MQTT TCP port'),
  wsPort: port(8083, 'embedded broker MQTT-over-WebSocket port'),
  brokerMode: z.enum(['embedded', 'external']).default('embedded')
    .describe('"embedded": the controller runs its own aedes broker; "external": it connects to brokerUrl (Mosquitto or any MQTT 5 broker) and listens on no MQTT port'),
  // External broker. Flat fields (not a nested object) so that each one has its own env variable and flag.
  brokerUrl: brokerUrlSchema.optional()
    .describe('external broker: mqtt://, mqtts://, ws:// or wss:// URL, without credentials (required when brokerMode is external)'),
  brokerUsername: z.string().min(1).max(256).optional().describe('external broker: MQTT username'),
  brokerPassword: z.string().min(1).max(1024).optional().describe('external broker: MQTT password (redacted in logs; prefer brokerPasswordFile)'),
  brokerPasswordFile: z.string().min(1).optional().describe('external broker: file holding the MQTT password (trailing newline ignored)'),
  brokerCaFile: z.string().min(1).optional().describe('external broker over TLS: PEM file of the CA(s) to trust instead of the system ones'),
  brokerCertFile: z.string().min(1).optional().describe('external broker over TLS: PEM client certificate (with brokerKeyFile)'),
  brokerKeyFile: z.string().min(1).optional().describe('external broker over TLS: PEM private key of the client certificate'),
  brokerRejectUnauthorized: boolean.default(true)
    .describe('external broker over TLS: refuse a server certificate that does not verify (false only for tests)'),
  brokerClientId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 . _ : -').default('pdm-controller')
    .describe('external broker: MQTT client id of this instance; its persistent session holds messages while it is down, so each instance needs its own, stable across restarts'),
  brokerSharedGroup: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ -').optional()
    .describe('external broker: share upstream subscriptions ($share/<group>/...) with the other instances of this group (scale-out); unset: this instance receives everything'),
  brokerSessionExpirySec: integer(0, 4_294_967_295).default(604_800)
    .describe('external broker: how long the broker keeps this instance\'s session and queued messages while it is disconnected (MQTT 5 session expiry)'),
  leaderLeaseSec: integer(3, 3600).default(15)
    .describe('singleton work (presence timeouts, reconciliation rounds, rollout ticks, report jobs) runs on the instance holding the leader lease in the database; a crashed leader is replaced after this long'),
  heartbeatTimeoutSec: integer(1, 86_400).default(90)
    .describe('a device with no message for this many seconds is marked offline'),
  commandTimeoutMs: integer(100, 600_000).default(10_000)
    .describe('how long a command waits for its reply on up/reply'),
  // aedes waits this long for a subscriber's socket to drain before disconnecting it. Its default
  // (60 s) lets one frozen device stall deliveries to everyone else for a minute (PLATFORM.md);
  // 10 s still tolerates a congested cellular link. 0 disables the protection.
  drainTimeoutMs: integer(0, 600_000).default(10_000)
    .describe('aedes drainTimeout: a subscriber whose socket does not drain in this time is disconnected (0 = never)'),
  // aedes' mqemitter runs at most this many deliveries at once. One ingest subscriber receives all
  // upstream traffic and devices receive little, so the default 100 is ample; raising it only
  // buffers more in memory when a subscriber is slow.
  brokerConcurrency: integer(1, 10_000).default(100)
    .describe('aedes concurrency: deliveries in flight at once inside the broker'),
  // Device identity and limits on the embedded broker (issue 8; controller/README.md "Device identity").
  deviceAuth: z.enum(['credentials', 'none']).default('credentials')
    .describe('embedded broker: "credentials": every device logs in as its deviceId with its enrolled password (pdmctl devices enroll) or a client certificate, and may use only its own topics; "none": anyone may connect and use any topic (development and benchmarks only; logged as a warning)'),
  maxDeviceConnections: integer(1, 1_000_000).default(10_000)
    .describe('embedded broker: devices connected at once, at most; more are refused with "server unavailable" (the controller\'s own link is not counted)'),
  devicePublishRate: integer(0, 1_000_000).default(1000)
    .describe('embedded broker: publishes per second one client may send, sustained; a faster client is held back (its socket is not read), never dropped (0 = no limit)'),
  devicePublishBurst: integer(1, 1_000_000).default(5000)
    .describe('embedded broker: publishes one client may send at once before devicePublishRate applies (an agent draining its backlog)'),
  mqttsPort: port(8883, 'embedded broker MQTT over TLS port, listening only when tlsCertFile is set'),
  tlsCertFile: z.string().min(1).optional().describe('embedded broker: PEM server certificate (chain) for the MQTT-over-TLS listener; unset: no TLS listener'),
  tlsKeyFile: z.string().min(1).optional().describe('embedded broker: PEM private key of tlsCertFile'),
  tlsCaFile: z.string().min(1).optional().describe('embedded broker: PEM CA certificate(s) that sign device client certificates'),
  tlsClientCerts: z.enum(['none', 'optional', 'required']).default('none')
    .describe('embedded broker TLS: "optional": a device may log in with a client certificate (CN = deviceId) instead of its password; "required": every TLS client must present one'),
  deviceBrokerUrl: brokerUrlSchema.optional()
    .describe('broker URL written into the agent config printed at enrollment; default the embedded broker\'s mqtts:// (when TLS is on) or mqtt:// address'),
  // Registry, signing, rollouts, API tokens (issue 3).
  tokensFile: z.string().min(1).optional()
    .describe('JSON file of API tokens with roles (admin, engineer, planner, viewer); unset: an admin token is generated into <dataDir>/admin.token'),
  // no zod default: the default depends on `host` (defaultApiReads, applied by loadConfig)
  apiReads: z.enum(['open', 'token']).optional()
    .describe('"open": GET /api/... needs no token; "token": reads need a token of any role (the dashboard asks for one); unset: "open" when host is a loopback address (127.0.0.1, ::1, localhost: the default), "token" when the API listens beyond this host (0.0.0.0 etc.)'),
  signingKeyFile: z.string().min(1).optional()
    .describe('Ed25519 private key (PKCS#8 PEM) that signs manifests, kept out of the database; default <dataDir>/keys/signing.key, generated at first start (0600)'),
  maxModelBytes: integer(1024, 1024 ** 3).default(64 * 1024 ** 2)
    .describe('largest model file POST /api/v1/models accepts (its body limit is 4/3 of this, base64, plus 1 MiB)'),
  manifestTtlSec: integer(60, 365 * 86_400).default(7 * 86_400)
    .describe('a signed manifest expires this long after it is signed (devices refuse expired ones; the controller re-signs)'),
  minAgentVersion: z.string().regex(/^\d+\.\d+\.\d+$/, 'x.y.z').default('0.1.0')
    .describe('minimum agent version written into every manifest'),
  rolloutTickMs: integer(50, 600_000).default(1000)
    .describe('how often the rollout engine judges running stages (it also runs soon after deployment statuses and metrics arrive)'),
  rolloutResendSec: integer(1, 86_400).default(30)
    .describe('a deploy command unanswered this long is sent again (same id) to an online device'),
  rolloutResignSec: integer(1, 7 * 86_400).default(300)
    .describe('a device that answered but still does not run what its rollout wants after this long gets a freshly signed manifest'),
  rolloutMaxAttempts: integer(1, 1000).default(5)
    .describe('manifests sent to one device for one want before the engine gives up on it (logged as an error)'),
  // Model quality, alerts, reliability reports, entered events (issue 5; docs/metrics.md).
  qualityMinMatured: integer(1, 10_000_000).default(100)
    .describe('matured predictions a model version needs before its precision and recall are judged (alerts; "sufficient" in the quality API)'),
  qualityDropPercent: integer(1, 100).default(10)
    .describe('alert when a version\'s precision or recall is more than this percentage below its baseline (its card, or the previous version)'),
  driftPsiThreshold: decimal(0.001, 100).default(0.25)
    .describe('drift alert when the devices\' median score PSI, or a device\'s median feature PSI, is above this (0.1-0.25 moderate, above 0.25 significant)'),
  driftScoreAlerts: boolean.default(false)
    .describe('also alert on the devices\' median score PSI: off by default, since one machine\'s scores differ from a fleet-wide training reference even without drift (docs/metrics.md)'),
  driftMinSamples: integer(1, 10_000_000).default(500)
    .describe('rows a drift window needs before its PSI can raise an alert (rolling features are autocorrelated: a few days of hourly rows say little)'),
  qualityAlertIntervalSec: integer(1, 86_400).default(30)
    .describe('how often quality and drift alerts are evaluated (and undelivered webhooks retried)'),
  alertWebhookUrl: z.url({ protocol: /^https?$/ }).optional()
    .describe('quality alerts are POSTed here as JSON ({"type":"pdm.quality-alert","alert":{...}}) when raised'),
  modelCardsDir: z.string().min(1).optional()
    .describe('directory of model cards as <name>/<version>/card.json (e.g. models/artifacts), for versions not in the registry: card metrics are quality baselines'),
  repairHoursFailure: decimal(0, 8760).default(8)
    .describe('reliability reports: hours a failure without an end is assumed to stop the asset (Azure PdM records no durations)'),
  repairHoursMaintenance: decimal(0, 8760).default(2)
    .describe('reliability reports: hours a maintenance without an end is assumed to stop the asset'),
  eventRetrySec: integer(1, 86_400).default(60)
    .describe('entered machine events not yet acknowledged by the asset\'s online device are sent again this often (also whenever it comes online)'),
  logLevel: z.enum(logLevels).default('info').describe('pino log level'),
}).superRefine((c, ctx) => {
  const problem = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
  const externalOnly = ['brokerUrl', 'brokerUsername', 'brokerPassword', 'brokerPasswordFile', 'brokerCaFile', 'brokerCertFile',
    'brokerKeyFile', 'brokerSharedGroup'] as const;
  if (c.brokerMode === 'embedded') {
    for (const key of externalOnly) if (c[key] !== undefined) problem(key, 'only used with brokerMode "external"');
    embeddedTlsProblems(c, problem);
    return;
  }
  for (const key of ['tlsCertFile', 'tlsKeyFile', 'tlsCaFile'] as const) if (c[key] !== undefined) problem(key, 'only used with brokerMode "embedded"');
  if (c.brokerUrl === undefined) problem('brokerUrl', 'required when brokerMode is "external"');
  if (c.brokerPassword !== undefined && c.brokerPasswordFile !== undefined) problem('brokerPasswordFile', 'give brokerPassword or brokerPasswordFile, not both');
  if ((c.brokerCertFile === undefined) !== (c.brokerKeyFile === undefined)) {
    problem(c.brokerCertFile === undefined ? 'brokerCertFile' : 'brokerKeyFile', 'brokerCertFile and brokerKeyFile go together');
  }
  const tls = c.brokerUrl?.startsWith('mqtts:') === true || c.brokerUrl?.startsWith('wss:') === true;
  for (const key of ['brokerCaFile', 'brokerCertFile', 'brokerKeyFile'] as const) {
    if (c[key] !== undefined && c.brokerUrl !== undefined && !tls) problem(key, 'needs an mqtts:// or wss:// brokerUrl');
  }
});

function embeddedTlsProblems(c: { tlsCertFile?: string | undefined; tlsKeyFile?: string | undefined; tlsCaFile?: string | undefined; tlsClientCerts: string },
  problem: (key: string, message: string) => void): void {
  if ((c.tlsCertFile === undefined) !== (c.tlsKeyFile === undefined)) {
    problem(c.tlsCertFile === undefined ? 'tlsCertFile' : 'tlsKeyFile', 'tlsCertFile and tlsKeyFile go together');
  }
  if (c.tlsClientCerts !== 'none' && c.tlsCertFile === undefined) problem('tlsClientCerts', 'client certificates need the TLS listener (tlsCertFile, tlsKeyFile)');
  if (c.tlsClientCerts !== 'none' && c.tlsCaFile === undefined) problem('tlsCaFile', 'required to verify client certificates (tlsClientCerts)');
}

/** The loaded config: as the schema gives it, with apiReads resolved (never unset). */
export type ControllerConfig = Readonly<Omit<z.infer<typeof controllerConfigSchema>, 'apiReads'> & { apiReads: ApiReads }>;
/** Open reads are meant for the host itself: an API bound beyond it reads with a token unless told otherwise. */
export function defaultApiReads(host: string): ApiReads {
  return isLoopbackHost(host) ? 'open' : 'token';
}

const isLoopbackHost = (host: string): boolean =>
  host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
export type ConfigKey = keyof z.infer<typeof controllerConfigSchema>;
export const configKeys = Object.keys(controllerConfigSchema.shape) as ConfigKey[];

export const ENV_PREFIX = 'PDM_CONTROLLER_';
/** The env variable that names the config file, like the --config flag. */
export const CONFIG_FILE_ENV = `${ENV_PREFIX}CONFIG`;

/** dataDir -> PDM_CONTROLLER_DATA_DIR */
export const envName = (key: ConfigKey): string => ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
/** dataDir -> --data-dir */
export const flagName = (key: ConfigKey): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export interface ConfigSources {
  /** Path of a JSON config file, if any. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values given as flags, keyed by config key (already mapped from --kebab-case). */
  flags?: Partial<Record<ConfigKey, string>>;
  /** Problems found before merging (e.g. unknown flags); reported together with the rest. */
  problems?: readonly string[];
}

type Origin = string;

/** Merges file, env and flags, validates, and returns a frozen config; throws CONFIG_INVALID listing every problem. */
export function loadConfig(sources: ConfigSources): ControllerConfig {
  const problems: string[] = [...(sources.problems ?? [])];
  const merged: Record<string, unknown> = {};
  const origins = new Map<string, Origin>();

  if (sources.file !== undefined) {
    const fromFile = readConfigFile(sources.file, problems);
    for (const [key, value] of Object.entries(fromFile)) {
      merged[key] = value;
      origins.set(key, `file ${sources.file}`);
    }
  }
  for (const [name, value] of Object.entries(sources.env ?? {})) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_FILE_ENV || value === undefined) continue;
    const key = configKeys.find((k) => envName(k) === name);
    if (key === undefined) {
      problems.push(`env ${name}: unknown setting (known: ${configKeys.map(envName).join(', ')})`);
      continue;
    }
    merged[key] = value;
    origins.set(key, `env ${name}`);
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) {
    merged[key] = value;
    origins.set(key, `flag ${flagName(key as ConfigKey)}`);
  }

  const parsed = controllerConfigSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '');
      // Unknown keys are reported at the root; only the file can carry them (env and flags are filtered).
      const root = sources.file === undefined ? 'config' : `file ${sources.file}`;
      const where = key === '' ? root : (origins.get(key) ?? 'default');
      const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      problems.push(`${path} (${where}): ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new PdmError('CONFIG_INVALID', `configuration is invalid: ${problems.length} problem(s)`, {
      context: { problems },
    });
  }
  const data = parsed.data;
  const file = (path: string | undefined) => (path === undefined ? undefined : resolve(path));
  return Object.freeze({
    ...data, apiReads: data.apiReads ?? defaultApiReads(data.host), dataDir: resolve(data.dataDir), brokerPasswordFile: file(data.brokerPasswordFile), brokerCaFile: file(data.brokerCaFile),
    brokerCertFile: file(data.brokerCertFile), brokerKeyFile: file(data.brokerKeyFile), modelCardsDir: file(data.modelCardsDir),
    tlsCertFile: file(data.tlsCertFile), tlsKeyFile: file(data.tlsKeyFile), tlsCaFile: file(data.tlsCaFile),
  });
}

function readConfigFile(file: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return {};
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    problems.push(`file ${file}: not valid JSON (${(err as Error).message})`);
    return {};
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    problems.push(`file ${file}: must hold a JSON object`);
    return {};
  }
  return json as Record<string, unknown>;
}

/** Lines for --help and the README: flag, env, default, description. */
export function describeConfig(): string[] {
  const defaults = controllerConfigSchema.parse({});
  return configKeys.map((key) => {
    const field = controllerConfigSchema.shape[key];
    const fallback = defaults[key] === undefined ? '(none)' : JSON.stringify(defaults[key]);
    return `  ${flagName(key).padEnd(28)} ${envName(key).padEnd(42)} default ${fallback}\n      ${field.description ?? ''}`;
  });
}

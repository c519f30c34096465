/**
 * The one configuration schema of pdm-agent, with every default and a description per field (shown by
 * --help and documented in agent/README.md; a test keeps the README complete). Sources (file, env,
 * flags) are merged by ./load.ts and validated here once; the result is frozen and each part gets its
 * slice.
 */
import { z } from 'zod';
import { deviceIdSchema, nameSchema } from '@pdm/protocol';
import { forwarderConfigSchema, outboxConfigSchema } from '../outbox/config.js';
import { qualityConfigSchema } from '../quality/config.js';
import { actionsConfigSchema, crashAtSchema, trustConfigSchema, updatesConfigSchema } from '../updates/config.js';

const pathSchema = z.string().min(1, 'a path is required');
const seconds = z.number().positive().max(86_400 * 365);

const filterSchema = z
  .string()
  .regex(/^[^=]+=.*$/, 'expected "column=value", e.g. "machineID=3"')
  .transform((s) => {
    const at = s.indexOf('=');
    return { column: s.slice(0, at).trim(), value: s.slice(at + 1).trim() };
  });
export type RowFilter = z.output<typeof filterSchema>;

const eventsFileSchema = z.strictObject({
  file: pathSchema.describe('CSV file of ground-truth events (Azure PdM: PdM_failures.csv or PdM_maint.csv)'),
  type: z.enum(['failure', 'maintenance']).describe('machine event type its rows become'),
  timeColumn: z.string().min(1).default('datetime').describe('column with the event time (no offset: UTC)'),
  componentColumn: z
    .string()
    .min(1)
    .optional()
    .describe('column naming the component; default "failure" for failures, "comp" for maintenance'),
});
export type EventsFileConfig = z.output<typeof eventsFileSchema>;

const logFileSchema = z.strictObject({
  file: pathSchema.describe('CSV file of the machine\'s own log (Azure PdM: PdM_errors.csv or PdM_maint.csv), read whole at start'),
  kind: z
    .enum(['error', 'maintenance'])
    .describe('"error": each row is an error whose code feeds errors_<code>; "maintenance": each row is a replacement of a component that feeds hours_since_<component>'),
  timeColumn: z.string().min(1).default('datetime').describe('column with the entry time (no offset: UTC)'),
  codeColumn: z
    .string()
    .min(1)
    .optional()
    .describe('column with the error code or the component; default "errorID" for errors, "comp" for maintenance'),
  filter: filterSchema.optional().describe('"column=value": use only matching rows of this file; default: source.filter'),
});
export type LogFileConfig = z.output<typeof logFileSchema>;

const syntheticTimeSchema = z.strictObject({
  start: z.iso.datetime({ offset: true }).describe('event time of the first row'),
  intervalSeconds: seconds.describe('event time between rows'),
});

export const replayCsvSchema = z
  .strictObject({
    type: z.literal('replay-csv').describe('replay a CSV file as live sensor data'),
    file: pathSchema.describe('CSV file to replay (Azure PdM telemetry, AI4I, or any CSV with a header)'),
    filter: filterSchema.optional().describe('"column=value": replay only matching rows, e.g. "machineID=3"; applies to eventsFiles too'),
    timeColumn: z.string().min(1).optional().describe('column with the event time; without an offset it is read as UTC'),
    syntheticTime: syntheticTimeSchema.optional().describe('for files without a time column (AI4I): row i happens at start + i * intervalSeconds'),
    signals: z
      .record(z.string().min(1), z.string().min(1))
      .default({})
      .describe('model signal -> CSV column; a signal not listed is read from the column of the same name'),
    speed: z
      .union([z.number().positive().max(1e9), z.literal('max')])
      .default('max')
      .describe('multiple of real time on event time (3600: one hour of data per second), or "max" for no pacing'),
    maxRows: z.number().int().positive().optional().describe('stop after this many rows (after the filter; rows skipped on resume not counted)'),
    resume: z
      .boolean()
      .default(true)
      .describe('go on after the last row whose results an earlier run committed (kept in dataDir/replay-position.json for this file and filter); false: replay from the first row'),
    eventsFiles: z.array(eventsFileSchema).max(16).default([]).describe('ground-truth files replayed as machine events at their data time'),
    logFiles: z
      .array(logFileSchema)
      .max(16)
      .default([])
      .describe(
        'the machine\'s error and maintenance logs: read whole, history before the first row included, and merged into each reading as the log signals (errors_<code>, hours_since_<component>) the running model names',
      ),
  })
  .superRefine((s, ctx) => {
    if ((s.timeColumn === undefined) === (s.syntheticTime === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['timeColumn'], message: 'set exactly one of timeColumn and syntheticTime' });
    }
  });
export type ReplayCsvConfig = z.output<typeof replayCsvSchema>;

/** One entry per source type; later sources (local MQTT, HTTP, OPC UA) join this union. */
export const sourceSchema = z.discriminatedUnion('type', [replayCsvSchema]).describe('where sensor data comes from');
export type SourceConfig = z.output<typeof sourceSchema>;

const brokerUrlSchema = z
  .url()
  .refine((u) => /^(mqtts?|wss?|tcp):\/\//.test(u), 'expected an mqtt://, mqtts://, ws://, wss:// or tcp:// URL');

export const agentConfigSchema = z.strictObject({
  deviceId: deviceIdSchema.describe('MQTT client id and topic level: letters, digits, ".", "_", "-"; at most 64'),
  assetId: nameSchema.describe('the machine this device watches'),
  assetClass: nameSchema.default('default').describe('kind of machine, for fleet reports'),
  site: nameSchema.default('default').describe('where the machine is, for fleet reports'),
  brokerUrl: brokerUrlSchema.default('mqtt://127.0.0.1:1883').describe('MQTT broker (the controller\'s embedded one, or any)'),
  dataDir: pathSchema
    .default('./data')
    .describe('directory of the outbox database (outbox.sqlite), trusted keys (trust.json) and installed models (models/); created when missing'),
  model: pathSchema.describe('model directory holding model.onnx and card.json: runs until a signed deployment replaces it, and is the last fallback'),
  source: sourceSchema,
  heartbeatSeconds: seconds.default(30).describe('status (retained) every this many seconds while connected'),
  metricsWindowSeconds: seconds.default(3600).describe('length of a metric window, in event-time seconds'),
  inference: z
    .strictObject({
      maxBatchRows: z.number().int().min(1).max(1000).default(256).describe('most rows per onnxruntime run and per prediction record'),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      cooldownSeconds: z
        .number()
        .min(0)
        .max(86_400 * 365)
        .default(6 * 3600)
        .describe('while the score stays past the threshold, raise again after this much event time'),
      criticalMargin: z
        .number()
        .min(0)
        .max(1)
        .default(0.5)
        .describe('critical once the score is this fraction of the way from the threshold to the end of its range (1 above, 0 below)'),
    })
    .prefault({}),
  outbox: outboxConfigSchema.describe('the durable outbox: durability per record class, caps by bytes and age'),
  forwarder: forwarderConfigSchema.describe('delivery from the outbox: in-flight window and backlog drain rate'),
  link: z
    .strictObject({
      keepaliveSeconds: z.number().int().min(1).max(3600).default(30).describe('MQTT keepalive'),
      connectTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('give up a connection attempt after this long'),
      reconnectInitialMs: z.number().int().min(10).max(600_000).default(500).describe('first reconnect delay (jittered, doubling per failed attempt)'),
      reconnectMaxMs: z.number().int().min(10).max(3_600_000).default(30_000).describe('longest reconnect delay'),
      passwordFile: pathSchema
        .optional()
        .describe('file holding the MQTT password (trailing newline ignored; read at each connection attempt); the user name is the deviceId (pdmctl devices enroll, deploy/mosquitto)'),
      caFile: pathSchema
        .optional()
        .describe('mqtts:// or wss://: PEM file of the CA(s) that sign the broker\'s certificate, instead of the system ones'),
      certFile: pathSchema
        .optional()
        .describe('mqtts:// or wss://: PEM client certificate whose CN is the deviceId; replaces the password where the broker accepts client certificates'),
      keyFile: pathSchema.optional().describe('private key (PEM) of link.certFile'),
    })
    .prefault({})
    .refine((l) => (l.certFile === undefined) === (l.keyFile === undefined), {
      message: 'certFile and keyFile go together',
      path: ['keyFile'],
    })
    .refine((l) => l.reconnectInitialMs <= l.reconnectMaxMs, {
      message: 'reconnectInitialMs must not exceed reconnectMaxMs',
      path: ['reconnectMaxMs'],
    }),
  trust: trustConfigSchema,
  updates: updatesConfigSchema,
  actions: actionsConfigSchema,
  crashAt: crashAtSchema,
  quality: qualityConfigSchema.describe('model quality from ground truth that arrives later, and drift against the model card'),
  healthPort: z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .optional()
    .describe('serve GET /health on 127.0.0.1:<port>: 200 healthy, 503 link down or outbox failing (pdm-agent health, systemd watchdog); 0 picks a free port; unset: off'),
  exitWhenDone: z.boolean().default(false).describe('once the source has ended and the outbox is drained, stop and exit 0'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level'),
});

export type AgentConfig = Readonly<z.output<typeof agentConfigSchema>>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

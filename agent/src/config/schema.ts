/**
 * The one configuration schema of pdm-agent, with every default. Sources (file, env, flags) are merged
 * by ./load.ts and validated here once; the result is frozen and handed to each part as a slice.
 */
import { z } from 'zod';
import { deviceIdSchema, nameSchema } from '@pdm/protocol';

const pathSchema = z.string().min(1, 'a path is required');
const seconds = z.number().positive().max(86_400 * 365);

/** `column=value`, e.g. `machineID=3`: only rows whose column equals value are replayed. */
const filterSchema = z
  .string()
  .regex(/^[^=]+=.*$/, 'expected "column=value", e.g. "machineID=3"')
  .transform((s) => {
    const at = s.indexOf('=');
    return { column: s.slice(0, at).trim(), value: s.slice(at + 1).trim() };
  });
export type RowFilter = z.output<typeof filterSchema>;

const eventsFileSchema = z.strictObject({
  file: pathSchema,
  /** Azure PdM: PdM_failures.csv -> failure, PdM_maint.csv -> maintenance. */
  type: z.enum(['failure', 'maintenance']),
  timeColumn: z.string().min(1).default('datetime'),
  /** Column naming the component; defaults to "failure" for failures and "comp" for maintenance. */
  componentColumn: z.string().min(1).optional(),
});
export type EventsFileConfig = z.output<typeof eventsFileSchema>;

const syntheticTimeSchema = z.strictObject({
  start: z.iso.datetime({ offset: true }),
  intervalSeconds: seconds,
});

export const replayCsvSchema = z
  .strictObject({
    type: z.literal('replay-csv'),
    file: pathSchema,
    filter: filterSchema.optional(),
    /** Column holding the event time; times without an offset are read as UTC. */
    timeColumn: z.string().min(1).optional(),
    /** For files without a time column (AI4I): row i happens at start + i * intervalSeconds. */
    syntheticTime: syntheticTimeSchema.optional(),
    /** Model signal -> CSV column. A signal not listed here is read from the column of the same name. */
    signals: z.record(z.string().min(1), z.string().min(1)).default({}),
    /** Multiple of real time on event time (3600: one hour of data per second), or "max": no pacing. */
    speed: z.union([z.number().positive().max(1e9), z.literal('max')]).default('max'),
    /** Stop after this many data rows (after the filter); for tests and short demos. */
    maxRows: z.number().int().positive().optional(),
    /** Ground-truth files replayed as machine events at their data time, filtered like the telemetry. */
    eventsFiles: z.array(eventsFileSchema).max(16).default([]),
  })
  .superRefine((s, ctx) => {
    if ((s.timeColumn === undefined) === (s.syntheticTime === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['timeColumn'], message: 'set exactly one of timeColumn and syntheticTime' });
    }
  });
export type ReplayCsvConfig = z.output<typeof replayCsvSchema>;

/** One entry per source type; later sources (local MQTT, HTTP, OPC UA) join this union. */
export const sourceSchema = z.discriminatedUnion('type', [replayCsvSchema]);
export type SourceConfig = z.output<typeof sourceSchema>;

const brokerUrlSchema = z
  .string()
  .url()
  .refine((u) => /^(mqtts?|wss?|tcp):\/\//.test(u), 'expected an mqtt://, mqtts://, ws://, wss:// or tcp:// URL');

export const agentConfigSchema = z.strictObject({
  deviceId: deviceIdSchema,
  assetId: nameSchema,
  assetClass: nameSchema.default('default'),
  site: nameSchema.default('default'),
  brokerUrl: brokerUrlSchema.default('mqtt://127.0.0.1:1883'),
  /** Holds outbox.sqlite; created when missing. */
  dataDir: pathSchema.default('./data'),
  /** Directory with model.onnx and card.json. */
  model: pathSchema,
  source: sourceSchema,
  heartbeatSeconds: seconds.default(30),
  /** Length of a metric window, in event-time seconds. */
  metricsWindowSeconds: seconds.default(3600),
  inference: z
    .strictObject({
      /** Most rows per onnxruntime run and per prediction batch record. */
      maxBatchRows: z.number().int().min(1).max(1000).default(256),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      /** While the score stays past the threshold, raise again after this much event time. */
      cooldownSeconds: z.number().min(0).max(86_400 * 365).default(6 * 3600),
      /** Severity is critical once the score is this fraction of the way from the threshold to the end of its range (1 above, 0 below). */
      criticalMargin: z.number().min(0).max(1).default(0.5),
    })
    .prefault({}),
  outbox: z
    .strictObject({
      /** SQLite synchronous level in WAL mode: NORMAL survives a process crash, FULL also an OS crash. */
      synchronous: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
    })
    .prefault({}),
  forwarder: z
    .strictObject({
      /** Records published and not yet acknowledged, at most. */
      maxInFlight: z.number().int().min(1).max(1000).default(64),
    })
    .prefault({}),
  link: z
    .strictObject({
      keepaliveSeconds: z.number().int().min(1).max(3600).default(30),
      connectTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
      /** Jittered exponential backoff between connection attempts. */
      reconnectInitialMs: z.number().int().min(10).max(600_000).default(500),
      reconnectMaxMs: z.number().int().min(10).max(3_600_000).default(30_000),
    })
    .prefault({})
    .refine((l) => l.reconnectInitialMs <= l.reconnectMaxMs, {
      message: 'reconnectInitialMs must not exceed reconnectMaxMs',
      path: ['reconnectMaxMs'],
    }),
  /** Stop and exit 0 once the source has ended and the outbox is drained. */
  exitWhenDone: z.boolean().default(false),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AgentConfig = Readonly<z.output<typeof agentConfigSchema>>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

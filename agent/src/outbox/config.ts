/**
 * Configuration of the outbox and the forwarder: sub-schemas of the one agent schema
 * (config/schema.ts), kept beside the code they configure, and the mapping to the outbox's deps.
 * Every field has its default and a description (--help and agent/README.md).
 */
import { z } from 'zod';
import type { OutboxCaps } from './outbox.js';
import type { SqliteOutboxDeps } from './sqlite-outbox.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY = 86_400;
const synchronousSchema = z.enum(['NORMAL', 'FULL']);
const ageSchema = z.number().positive().max(DAY * 365);

export const outboxConfigSchema = z
  .strictObject({
    synchronous: synchronousSchema
      .default('NORMAL')
      .describe('SQLite synchronous level (WAL) of commits of routine records (metrics, predictions): NORMAL survives a process crash, FULL also an OS crash or power cut'),
    criticalSynchronous: synchronousSchema
      .default('FULL')
      .describe('synchronous level of commits holding a critical record (alerts, machine events, deployment reports): FULL fsyncs the WAL before the commit returns'),
    maxBytes: z
      .number()
      .int()
      .min(64 * KiB)
      .max(2 ** 40)
      .default(256 * MiB)
      .describe('payload bytes held at most; past it routine records are evicted, lowest class first (samples, predictions, metrics), oldest first; critical records never'),
    maxFileBytes: z
      .number()
      .int()
      .min(64 * KiB)
      .max(2 ** 44)
      .optional()
      .describe('hard cap on the database file (SQLite max_page_count): at it a commit evicts routine records and retries, as on a full disk'),
    maxAgeSeconds: z
      .strictObject({
        metrics: ageSchema.default(30 * DAY).describe('metric, comparison, quality and drift windows older than this are evicted'),
        predictions: ageSchema.default(7 * DAY).describe('prediction batches older than this are evicted'),
        samples: ageSchema.default(DAY).describe('raw reading samples older than this are evicted'),
      })
      .prefault({})
      .describe('how long a routine record may wait for delivery, per class; critical records wait as long as it takes'),
  })
  .prefault({});
export type OutboxConfig = z.output<typeof outboxConfigSchema>;

export const forwarderConfigSchema = z
  .strictObject({
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(64)
      .describe('records awaiting PUBACK at most, per window: one for critical records, one for routine ones'),
    drainRatePerSecond: z
      .number()
      .positive()
      .max(1e6)
      .default(200)
      .describe('backlog (routine records committed before the link came up) published per second at most; critical and live records are not held to it'),
  })
  .prefault({});

/** The outbox deps that come from the configuration. */
export function outboxSettings(config: OutboxConfig): Pick<SqliteOutboxDeps, 'synchronous' | 'criticalSynchronous' | 'caps' | 'maxFileBytes'> {
  const caps: OutboxCaps = {
    maxBytes: config.maxBytes,
    maxAgeMs: {
      metrics: config.maxAgeSeconds.metrics * 1000,
      predictions: config.maxAgeSeconds.predictions * 1000,
      samples: config.maxAgeSeconds.samples * 1000,
    },
  };
  return {
    synchronous: config.synchronous,
    criticalSynchronous: config.criticalSynchronous,
    caps,
    ...(config.maxFileBytes === undefined ? {} : { maxFileBytes: config.maxFileBytes }),
  };
}

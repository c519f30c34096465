/**
 * Configuration of model quality and drift on the device: a sub-schema of the one agent schema
 * (config/schema.ts), kept beside the code it configures. Every field has its default and a
 * description (--help and agent/README.md).
 */
import { z } from 'zod';

const DAY = 86_400;

export const qualityConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('publish quality and drift windows for models that carry what they need (a horizon; reference bins)'),
    windowSeconds: z
      .number()
      .positive()
      .max(DAY * 365)
      .default(DAY)
      .describe('length of a quality window in event-time seconds, aligned to the epoch; a prediction counts in the window of its own time'),
    labelGraceHours: z
      .number()
      .min(0)
      .max(24 * 365)
      .default(0)
      .describe('extra event time to wait after a horizon has passed before a prediction counts as matured without a failure (for failures entered late by people)'),
    driftWindowSeconds: z
      .number()
      .positive()
      .max(DAY * 365)
      .default(30 * DAY)
      .describe('length of a drift window in event-time seconds; rolling features of hourly data change slowly, so a window needs weeks of rows to compare with training (docs/metrics.md)'),
    maxPendingPredictions: z
      .number()
      .int()
      .min(1000)
      .max(10_000_000)
      .default(250_000)
      .describe('predictions waiting for maturity held per model version and role, in memory and in the outbox database (one window plus the horizon of them is needed); past it the oldest tenth is dropped, logged and counted, and their windows are published without them'),
  })
  .prefault({});

export type QualityConfig = z.output<typeof qualityConfigSchema>;

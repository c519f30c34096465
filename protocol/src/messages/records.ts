import { z } from 'zod';
import {
  countSchema, finiteSchema, modelRefSchema, modelRoleSchema, nameSchema, reasonCountsSchema, recordHeader, timeSchema,
} from './common.js';

export const MAX_PREDICTIONS_PER_BATCH = 1000;

/** A batch of model outputs from one model on one asset. */
export const predictionBatchSchema = z.strictObject({
  ...recordHeader,
  assetId: nameSchema,
  model: modelRefSchema,
  role: modelRoleSchema,
  /** Horizon of "failure within H hours" models; absent for other outputs (e.g. remaining life). */
  horizonHours: z.number().positive().max(24 * 365).optional(),
  threshold: finiteSchema,
  predictions: z
    .array(
      z.strictObject({
        /** Time of the last reading in the window the prediction was made from. */
        t: timeSchema,
        score: finiteSchema,
        alert: z.boolean(),
      }),
    )
    .min(1)
    .max(MAX_PREDICTIONS_PER_BATCH),
});
export type PredictionBatch = z.infer<typeof predictionBatchSchema>;

/** The active model's score passed its threshold. Shadow models never raise alerts. */
export const alertSchema = z.strictObject({
  ...recordHeader,
  assetId: nameSchema,
  model: modelRefSchema,
  score: finiteSchema,
  threshold: finiteSchema,
  severity: z.enum(['warning', 'critical']),
  /** Time of the reading that completed the window the alert was raised on. */
  windowEnd: timeSchema,
  message: z.string().max(512),
});
export type Alert = z.infer<typeof alertSchema>;

const latencySchema = z.strictObject({
  p50: z.number().min(0),
  p95: z.number().min(0),
  max: z.number().min(0),
});

/** Counters for one time window on the device. */
export const metricWindowSchema = z
  .strictObject({
    ...recordHeader,
    assetId: nameSchema,
    windowStart: timeSchema,
    windowEnd: timeSchema,
    readings: countSchema,
    rejectedReadings: reasonCountsSchema,
    inferences: countSchema,
    inferenceErrors: countSchema,
    alerts: countSchema,
    /** Wall-clock inference latency per batch, in milliseconds; absent when no inference ran. */
    latencyMs: latencySchema.optional(),
    model: modelRefSchema.optional(),
  })
  .refine((m) => Date.parse(m.windowStart) <= Date.parse(m.windowEnd), {
    message: 'windowStart must not be after windowEnd',
    path: ['windowEnd'],
  });
export type MetricWindow = z.infer<typeof metricWindowSchema>;

export const machineEventTypeSchema = z.enum(['failure', 'maintenance', 'downtime-start', 'downtime-end']);
export type MachineEventType = z.infer<typeof machineEventTypeSchema>;

/** Something that happened to the machine: the ground truth for model quality and reliability reports. */
export const machineEventSchema = z.strictObject({
  ...recordHeader,
  assetId: nameSchema,
  type: machineEventTypeSchema,
  /** When it happened on the machine. `time` is when the device recorded it. */
  at: timeSchema,
  /** e.g. the failed component ("comp2"), or the failure mode. */
  component: z.string().min(1).max(64).optional(),
  /** Downtime cause, on downtime-start. */
  cause: z.enum(['unplanned', 'planned', 'other']).optional(),
  source: z.enum(['sensor', 'replay', 'operator', 'cmms']),
  note: z.string().max(512).optional(),
});
export type MachineEvent = z.infer<typeof machineEventSchema>;

export const rejectReasons = [
  'too-large', 'payload-type', 'signature', 'target', 'expired', 'rollback', 'already-installed', 'hash', 'disk',
] as const;
export const failReasons = ['load', 'non-finite', 'latency', 'crash-loop', 'link-lost', 'download'] as const;

export const deploymentStatusValueSchema = z.union([
  z.enum(['received', 'downloading', 'installed', 'trial', 'committed', 'reverted']),
  z.templateLiteral(['rejected:', z.enum(rejectReasons)]),
  z.templateLiteral(['failed:', z.enum(failReasons)]),
]);
export type DeploymentStatusValue = z.infer<typeof deploymentStatusValueSchema>;

/** Progress of one deployment on one device. */
export const deploymentStatusSchema = z.strictObject({
  ...recordHeader,
  deploymentId: z.string().min(1).max(128),
  model: modelRefSchema,
  status: deploymentStatusValueSchema,
  detail: z.string().max(512).optional(),
});
export type DeploymentStatus = z.infer<typeof deploymentStatusSchema>;

export const recordSchemas = {
  predictions: predictionBatchSchema,
  alerts: alertSchema,
  metrics: metricWindowSchema,
  events: machineEventSchema,
  deployment: deploymentStatusSchema,
} as const;
export type RecordKind = keyof typeof recordSchemas;
export const recordKinds = Object.keys(recordSchemas) as RecordKind[];
export type RecordOf<K extends RecordKind> = z.infer<(typeof recordSchemas)[K]>;
export type AnyRecord = { [K in RecordKind]: { kind: K; record: RecordOf<K> } }[RecordKind];
export { countSchema };

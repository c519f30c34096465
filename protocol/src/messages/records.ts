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
  /**
   * In `act` mode: `triggered` when the score passed the action threshold and the configured action
   * (e.g. a CMMS work order) was started, `review` when below it and a person must decide. Absent in
   * `alert` mode.
   */
  action: z.enum(['triggered', 'review']).optional(),
  deploymentId: z.string().min(1).max(128).optional(),
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
    role: modelRoleSchema.optional(),
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

const histogramSchema = z
  .strictObject({
    edges: z.array(finiteSchema).min(2).max(101),
    counts: z.array(countSchema).min(1).max(100),
  })
  .refine((h) => h.counts.length === h.edges.length - 1, { message: 'counts must have one entry per bin', path: ['counts'] });

const windowFields = {
  windowStart: timeSchema,
  windowEnd: timeSchema,
};
const windowOrder = {
  message: 'windowStart must not be after windowEnd',
  path: ['windowEnd'],
};

/** A shadow candidate compared with the active model on the same inputs, over one window. */
export const comparisonWindowSchema = z
  .strictObject({
    ...recordHeader,
    assetId: nameSchema,
    deploymentId: z.string().min(1).max(128).optional(),
    active: modelRefSchema,
    candidate: modelRefSchema,
    ...windowFields,
    /** Rows scored by both. */
    n: countSchema,
    /** Share of rows where both made the same alert decision. */
    agreement: z.number().min(0).max(1),
    meanAbsScoreDiff: z.number().min(0),
    activeAlerts: countSchema,
    candidateAlerts: countSchema,
    candidateErrors: countSchema,
    activeScores: histogramSchema,
    candidateScores: histogramSchema,
  })
  .refine((w) => Date.parse(w.windowStart) <= Date.parse(w.windowEnd), windowOrder);
export type ComparisonWindow = z.infer<typeof comparisonWindowSchema>;

/**
 * Quality of matured predictions of one model version over one window. A "failure within H" prediction
 * matures when H has passed or a failure occurred; only matured ones are counted.
 */
export const qualityWindowSchema = z
  .strictObject({
    ...recordHeader,
    assetId: nameSchema,
    model: modelRefSchema,
    role: modelRoleSchema,
    ...windowFields,
    horizonHours: z.number().positive().max(24 * 365),
    confusion: z.strictObject({ tp: countSchema, fp: countSchema, tn: countSchema, fn: countSchema }),
    events: z.strictObject({
      /** Failures with an alert inside [failure - H, failure). */
      caught: countSchema,
      missed: countSchema,
      /** Alert episodes with no failure within H after them. */
      falseAlarms: countSchema,
      /** Warning lead time of each caught failure, in hours. */
      leadHours: z.array(z.number().min(0)).max(1000),
    }),
  })
  .refine((w) => Date.parse(w.windowStart) <= Date.parse(w.windowEnd), windowOrder);
export type QualityWindow = z.infer<typeof qualityWindowSchema>;

/** Drift of inputs and scores against the model card's reference distributions, over one window. */
export const driftWindowSchema = z
  .strictObject({
    ...recordHeader,
    assetId: nameSchema,
    model: modelRefSchema,
    role: modelRoleSchema,
    ...windowFields,
    n: countSchema,
    /** Population stability index per feature. */
    features: z.record(z.string().min(1).max(64), z.number().min(0)).refine((r) => Object.keys(r).length <= 1024, 'at most 1024 features'),
    score: z.number().min(0).optional(),
  })
  .refine((w) => Date.parse(w.windowStart) <= Date.parse(w.windowEnd), windowOrder);
export type DriftWindow = z.infer<typeof driftWindowSchema>;

export const recordSchemas = {
  predictions: predictionBatchSchema,
  alerts: alertSchema,
  metrics: metricWindowSchema,
  events: machineEventSchema,
  deployment: deploymentStatusSchema,
  comparisons: comparisonWindowSchema,
  quality: qualityWindowSchema,
  drift: driftWindowSchema,
} as const;
export type RecordKind = keyof typeof recordSchemas;
export const recordKinds = Object.keys(recordSchemas) as RecordKind[];
export type RecordOf<K extends RecordKind> = z.infer<(typeof recordSchemas)[K]>;
export type AnyRecord = { [K in RecordKind]: { kind: K; record: RecordOf<K> } }[RecordKind];
export { countSchema };

/**
 * What a rollout request says (POST /api/v1/rollouts, `pdmctl rollouts create`): the model version,
 * which devices, the deployment mode, and cumulative stages, each with a soak time, a timeout and the
 * gates its evidence must pass. Defaults are strict: every device of a stage must commit the version
 * and none may report a failure; the other gates apply when given.
 */
import { z } from 'zod';
import { deploymentModeSchema, deviceIdSchema, modelRefSchema, nameSchema } from '@pdm/protocol';
import { tagSchema } from '../devices/tags.js';

const rate = z.number().min(0).max(1);

export const qualityGateSchema = z.strictObject({
  minPrecision: rate.optional(),
  minRecall: rate.optional(),
  /** Matured predictions (labels known) needed before precision/recall count as evidence. */
  minSamples: z.number().int().min(1).max(10_000_000).default(50),
  /** When true, too few matured labels do not hold the stage back (the gate still fails on evidence). */
  optional: z.boolean().default(false),
}).refine((q) => q.minPrecision !== undefined || q.minRecall !== undefined, { message: 'give minPrecision and/or minRecall' });

export const gatesSchema = z.strictObject({
  /** Share of the stage's devices that must have committed the version (trial passed). */
  minActivationRate: rate.default(1),
  /** Devices that may report failed:* or rejected:* before the stage fails. */
  maxFailures: z.number().int().min(0).default(0),
  /** Inference errors per attempted row of the new version (metric windows). */
  maxInferenceErrorRate: rate.optional(),
  /** Largest p95 inference latency of the new version in any metric window, ms. */
  maxLatencyP95Ms: z.number().positive().optional(),
  /** The new version's alert rate may be at most this multiple of the current version's. */
  maxAlertRateRatio: z.number().positive().optional(),
  /** The current version's alert rate is taken as at least this (a version that never alerts would make any alert an infinite ratio). */
  alertRateFloor: rate.default(0.01),
  /** Shadow mode: agreement of alert decisions with the current version, over compared rows. */
  minAgreement: rate.optional(),
  quality: qualityGateSchema.optional(),
  /** Rows of evidence (scored or compared) a rate gate needs before it counts. */
  minSamples: z.number().int().min(1).max(10_000_000).default(50),
});
export type Gates = z.output<typeof gatesSchema>;

export const stageSchema = z.strictObject({
  /** Cumulative share of the targeted devices this stage brings the version to, or ... */
  percent: z.number().gt(0).max(100).optional(),
  /** ... a cumulative number of them. */
  count: z.number().int().min(1).optional(),
  /** Time the evidence must hold after the stage's devices activated, before the stage passes. */
  soakSeconds: z.number().min(0).max(30 * 86_400).default(300),
  /** A stage without a verdict this long after it started times out: its silent devices are `unknown`. */
  timeoutSeconds: z.number().positive().max(90 * 86_400).default(3600),
  /** What a timed-out stage does: wait for a person (pause) or roll back. Never "pass". */
  onTimeout: z.enum(['pause', 'rollback']).default('pause'),
  gates: gatesSchema.prefault({}),
}).refine((s) => (s.percent === undefined) !== (s.count === undefined), { message: 'give exactly one of percent or count' });
export type Stage = z.output<typeof stageSchema>;

export const rolloutTargetSchema = z.union([
  z.strictObject({ all: z.literal(true) }),
  z.strictObject({ deviceIds: z.array(deviceIdSchema).min(1).max(10_000) }),
  // tags: a device enrolled with any of them (pdmctl devices enroll --tag); every named field must match
  z.strictObject({
    assetClasses: z.array(nameSchema).min(1).max(100).optional(), sites: z.array(nameSchema).min(1).max(100).optional(),
    tags: z.array(tagSchema).min(1).max(100).optional(),
  }).refine((t) => t.assetClasses !== undefined || t.sites !== undefined || t.tags !== undefined, { message: 'a selector names assetClasses, sites and/or tags' }),
]);
export type RolloutTarget = z.output<typeof rolloutTargetSchema>;

const versionSchema = modelRefSchema.shape.version;

export const rolloutRequestSchema = z.strictObject({
  /** Chosen by the client to make creation idempotent: the same id again returns the same rollout. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'lowercase letters, digits and "-", at most 32').optional(),
  model: modelRefSchema,
  target: rolloutTargetSchema,
  mode: deploymentModeSchema.default('alert'),
  stages: z.array(stageSchema).min(1).max(10),
  /** Version to roll a device back to when the controller never learned what it ran before. */
  previousVersion: versionSchema.optional(),
  reason: z.string().max(1000).optional(),
}).superRefine((r, ctx) => {
  const last = r.stages[r.stages.length - 1];
  if (last !== undefined && last.percent !== 100) {
    ctx.addIssue({ code: 'custom', path: ['stages', r.stages.length - 1, 'percent'], message: 'the last stage must be percent 100 (every targeted device)' });
  }
  r.stages.forEach((s, i) => {
    if (s.gates.minAgreement !== undefined && r.mode !== 'shadow') {
      ctx.addIssue({ code: 'custom', path: ['stages', i, 'gates', 'minAgreement'], message: 'agreement is measured in shadow mode only' });
    }
  });
});
export type RolloutRequest = z.output<typeof rolloutRequestSchema>;
export type RolloutRequestInput = z.input<typeof rolloutRequestSchema>;

export const rolloutStates = ['running', 'paused', 'completed', 'aborted', 'rolled-back'] as const;
export type RolloutState = (typeof rolloutStates)[number];

/** What the controller wants a device of a rollout to run. */
export type Want = 'pending' | 'candidate' | 'baseline';

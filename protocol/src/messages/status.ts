import { z } from 'zod';
import { countSchema, deviceIdSchema, modelRefSchema, modelRoleSchema, nameSchema, reasonCountsSchema, seqSchema, timeSchema } from './common.js';

/**
 * Device state, published retained on `up/status` when the agent connects, on every heartbeat and when
 * it stops. The last will (set at connect) is the same message with state "offline", so the broker
 * marks the device offline when the link dies without a goodbye. Status is state, not a record: it is
 * not queued in the outbox and carries no seq; `lastSeq` says how far the device's records have got.
 */
export const statusSchema = z.strictObject({
  deviceId: deviceIdSchema,
  state: z.enum(['online', 'offline']),
  time: timeSchema,
  /** Why the device went offline: "stopped" (clean shutdown) or "lost" (last will). */
  reason: z.enum(['stopped', 'lost']).optional(),
  agentVersion: z.string().min(1).max(64),
  /** Random per process start; lets the controller tell restarts apart. */
  bootId: z.string().min(1).max(64),
  assetId: nameSchema,
  assetClass: nameSchema,
  site: nameSchema,
  models: z
    .array(
      z.strictObject({
        ...modelRefSchema.shape,
        role: modelRoleSchema,
        /** Release counter of the manifest the model was installed from (absent for a configured model). */
        release: z.number().int().min(1).optional(),
        /** Deployment mode: shadow (never acted on), alert (alerts go to people), act (also triggers actions). */
        mode: z.enum(['shadow', 'alert', 'act']).optional(),
        /** True while a new version runs in trial, before its health checks committed it. */
        trial: z.boolean().optional(),
        deploymentId: z.string().min(1).max(128).optional(),
      }),
    )
    .max(16),
  /** Highest seq committed to the outbox so far (0 before the first record). */
  lastSeq: z.union([z.literal(0), seqSchema]),
  counters: z
    .strictObject({
      readings: countSchema,
      rejectedReadings: reasonCountsSchema,
      inferences: countSchema,
      alerts: countSchema,
      outboxDepth: countSchema,
      outboxBytes: countSchema,
      delivered: countSchema,
      dropped: reasonCountsSchema,
      /** Outbox depth per record class (critical, metrics, predictions, samples). */
      outboxByClass: reasonCountsSchema.optional(),
      /** When the oldest record still in the outbox was committed (device clock). */
      oldestPending: timeSchema.optional(),
      /**
       * Outbox databases found corrupt at start and set aside (renamed, kept on the device) since this
       * one was created, newest last: the device started a fresh one and its records were lost.
       */
      outboxQuarantined: z
        .array(z.strictObject({ at: timeSchema, movedTo: z.string().min(1).max(256), reason: z.string().min(1).max(256) }))
        .max(8)
        .optional(),
      // The restart state: the snapshots the agent keeps beside its records (the resume point with the
      // feature windows, the drift counts, the open windows), which a restart resumes from. On a full disk
      // they are left out of commits first and the stored resume point stays where it was. Optional: an
      // agent from before them sends none, which a controller reads as "not reported".
      /** Stretches of commits that left the restart state out since the agent started (a state carried again and left out again counts once). */
      statesNotStored: countSchema.optional(),
      /** When a commit last stored the resume point with nothing left out (device clock; survives restarts; not moved by the drift counts alone); null: never recorded. */
      stateStoredAt: timeSchema.nullable().optional(),
      /** Since when it is left out: the first commit of the stretch going on; null while it is stored. */
      stateNotStoredSince: timeSchema.nullable().optional(),
    })
    .optional(),
});
export type Status = z.infer<typeof statusSchema>;

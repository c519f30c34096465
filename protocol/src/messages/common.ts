import { z } from 'zod';
import { DEVICE_ID_PATTERN } from '../topics.js';

export const deviceIdSchema = z.string().regex(DEVICE_ID_PATTERN, 'letters, digits, ".", "_" or "-", at most 64');
/** Short human-readable identifiers (assets, sites, model names): bounded, no control characters. */
export const nameSchema = z.string().min(1).max(128).regex(/^[^\u0000-\u001f]+$/, 'no control characters');
/** ISO 8601 date-time with an offset, e.g. 2015-01-01T06:00:00.000Z. */
export const timeSchema = z.iso.datetime({ offset: true });
/** Per-device sequence number: strictly increasing over all of a device's records. */
export const seqSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
export const countSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const finiteSchema = z.number().finite();

export const modelRefSchema = z.strictObject({
  name: nameSchema,
  version: z.string().min(1).max(64).regex(/^[A-Za-z0-9._+-]+$/, 'letters, digits, ".", "_", "+" or "-"'),
});
export type ModelRef = z.infer<typeof modelRefSchema>;

/** Whether two refs name the same model version. */
export function sameModelRef(a: ModelRef, b: ModelRef): boolean {
  return a.name === b.name && a.version === b.version;
}

/** Role of a model on a device: `active` is acted on; `shadow` runs beside it and is never acted on. */
export const modelRoleSchema = z.enum(['active', 'shadow']);
export type ModelRole = z.infer<typeof modelRoleSchema>;

/**
 * Fields every upstream record carries. A record is something the agent commits to its outbox and
 * delivers at least once; the controller stores it idempotently on (deviceId, seq).
 */
export const recordHeader = {
  deviceId: deviceIdSchema,
  seq: seqSchema,
  /** Event time: when the thing happened on the device (replay time during a replay). */
  time: timeSchema,
};

/** Counters keyed by a reason, e.g. rejected readings by reason. */
export const reasonCountsSchema = z.record(z.string().min(1).max(64), countSchema).refine(
  (r) => Object.keys(r).length <= 64,
  'at most 64 reasons',
);

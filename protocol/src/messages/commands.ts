import { z } from 'zod';
import { deviceIdSchema, nameSchema, timeSchema } from './common.js';
import { errorCatalogue, type PdmErrorCode } from '../errors.js';
import { envelopeSchema } from '../manifest.js';
import { machineEventTypeSchema } from './records.js';

const commandIdSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/);

const commandHeader = {
  /** Unique per command; a device answers a repeated id from memory instead of acting twice. */
  id: commandIdSchema,
  time: timeSchema,
};

/** Commands the controller sends on `down/cmd`. */
export const commandSchema = z.discriminatedUnion('type', [
  /** Liveness check; the reply carries the device's clock. */
  z.strictObject({ ...commandHeader, type: z.literal('ping') }),
  /** Ask the device to republish its status now (used by reconciliation). */
  z.strictObject({ ...commandHeader, type: z.literal('report-state') }),
  /** Install a model: a signed manifest envelope (payload type model-manifest). */
  z.strictObject({ ...commandHeader, type: z.literal('deploy'), envelope: envelopeSchema }),
  /** Rotate trusted keys: a key set envelope signed by the currently trusted keys. */
  z.strictObject({ ...commandHeader, type: z.literal('trust-keys'), envelope: envelopeSchema }),
  /** Ground truth entered by people or a CMMS, forwarded to the asset's device. */
  z.strictObject({
    ...commandHeader,
    type: z.literal('machine-event'),
    event: z.strictObject({
      /** The controller's id for the event; the device records it once. */
      eventId: z.string().min(1).max(64),
      assetId: nameSchema,
      type: machineEventTypeSchema,
      at: timeSchema,
      component: z.string().min(1).max(64).optional(),
      cause: z.enum(['unplanned', 'planned', 'other']).optional(),
      source: z.enum(['operator', 'cmms']),
      note: z.string().max(512).optional(),
    }),
  }),
]);
export type Command = z.infer<typeof commandSchema>;
export type CommandType = Command['type'];

const errorCodeSchema = z.enum(Object.keys(errorCatalogue) as [PdmErrorCode, ...PdmErrorCode[]]);

/** The device's answer on `up/reply`: one envelope for success and failure. */
export const replySchema = z.discriminatedUnion('status', [
  z.strictObject({
    deviceId: deviceIdSchema,
    commandId: commandIdSchema,
    time: timeSchema,
    status: z.literal('ok'),
    data: z.record(z.string(), z.unknown()).optional(),
  }),
  z.strictObject({
    deviceId: deviceIdSchema,
    commandId: commandIdSchema,
    time: timeSchema,
    status: z.literal('error'),
    error: z.strictObject({ code: errorCodeSchema, message: z.string().max(512) }),
  }),
]);
export type Reply = z.infer<typeof replySchema>;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 hex');
export const MAX_CHUNK_BYTES = 256 * 1024;

/** The device asks for a byte range of an artifact it was told about in a verified manifest. */
export const fetchRequestSchema = z.strictObject({
  deviceId: deviceIdSchema,
  requestId: commandIdSchema,
  sha256: sha256Hex,
  offset: z.number().int().min(0),
  length: z.number().int().min(1).max(MAX_CHUNK_BYTES),
});
export type FetchRequest = z.infer<typeof fetchRequestSchema>;

/** The controller's answer: the bytes at `offset` (base64), or why it cannot send them. */
export const chunkSchema = z.discriminatedUnion('status', [
  z.strictObject({
    requestId: commandIdSchema,
    status: z.literal('ok'),
    sha256: sha256Hex,
    offset: z.number().int().min(0),
    /** Total length of the artifact in the registry. */
    total: z.number().int().min(1),
    data: z.string().max(Math.ceil(MAX_CHUNK_BYTES / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
  }),
  z.strictObject({
    requestId: commandIdSchema,
    status: z.literal('error'),
    sha256: sha256Hex,
    error: z.strictObject({ code: errorCodeSchema, message: z.string().max(512) }),
  }),
]);
export type Chunk = z.infer<typeof chunkSchema>;

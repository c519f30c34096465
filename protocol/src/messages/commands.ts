import { z } from 'zod';
import { deviceIdSchema, timeSchema } from './common.js';
import { errorCatalogue, type PdmErrorCode } from '../errors.js';

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

/**
 * Events people or a CMMS enter (POST /api/v1/events, `pdmctl events add`): a failure or a
 * maintenance at a time, with an optional end (when the asset was back in service), or a downtime
 * interval with its cause. The zod schemas check shapes and types; events-service.ts checks what needs
 * the database (known asset, no overlap, no duplicate) and the order of start and end.
 */
import { z } from 'zod';
import { nameSchema, timeSchema } from '@pdm/protocol';

const common = {
  assetId: nameSchema.describe('the asset, as its device reports it (GET /api/v1/devices)'),
  component: z.string().min(1).max(64).optional().describe('failed or serviced component, or the failure mode'),
  source: z.enum(['operator', 'cmms']).default('operator').describe('who entered it: a person, or a maintenance system'),
  note: z.string().max(512).optional(),
};

const pointEvent = <T extends 'failure' | 'maintenance'>(type: T) => z.strictObject({
  type: z.literal(type),
  at: timeSchema.describe('when it happened (the asset stopped)'),
  end: timeSchema.optional().describe('when the asset was back in service; without it reports assume a repair time'),
  ...common,
});

export const eventInputSchema = z.discriminatedUnion('type', [
  pointEvent('failure'),
  pointEvent('maintenance'),
  z.strictObject({
    type: z.literal('downtime'),
    start: timeSchema.describe('when the asset stopped'),
    end: timeSchema.describe('when it was back in service'),
    cause: z.enum(['unplanned', 'planned', 'other']).describe('unplanned (failure), planned (maintenance), other (external: no orders, power, ...)'),
    ...common,
  }),
]);
export type EventInput = z.output<typeof eventInputSchema>;

export const eventsBatchSchema = z.strictObject({
  events: z.array(eventInputSchema).min(1).max(1000),
});

export const eventsQuerySchema = z.strictObject({
  assetId: nameSchema.optional(),
  /** Events starting at or after this time. */
  from: timeSchema.optional(),
  /** Events starting before this time. */
  to: timeSchema.optional(),
  limit: z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v), z.number().int().min(1).max(10_000)).default(500),
});
export type EventsQuery = z.output<typeof eventsQuerySchema>;

/** Start and end of an event as an interval; end undefined for a point event without one. */
export function span(e: EventInput): { start: string; end: string | undefined } {
  return e.type === 'downtime' ? { start: e.start, end: e.end } : { start: e.at, end: e.end };
}

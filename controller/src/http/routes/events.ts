/**
 * Machine events entered by people or a CMMS: failures, maintenance, downtime with its cause. Refused
 * input is a 400 naming the field and stores nothing; stored events are forwarded to the asset's
 * device (controller/README.md, "Machine events").
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PdmError } from '@pdm/protocol';
import { actorOf } from '../../auth/guard.js';
import { eventInputSchema, eventsBatchSchema, eventsQuerySchema } from '../../events/schema.js';
import type { InsightsApi } from '../../quality/wiring.js';
import type { ZodRoutes } from '../openapi/index.js';

const record = { permission: 'events:record' } as const;

export const eventRoutes: ZodRoutes<{ api: InsightsApi }> = async (app, { api }) => {
  app.post('/api/v1/events', {
    config: record,
    schema: { tags: ['events'], summary: 'Record one failure, maintenance or downtime interval and forward it to the asset\'s device', body: eventInputSchema },
  }, async (req, reply) => {
    const [event] = api.events.add([req.body], () => 'body', actor(req));
    return reply.status(201).send({ event });
  });

  app.post('/api/v1/events/batch', {
    config: record,
    schema: { tags: ['events'], summary: 'Record up to 1000 events at once: all of them or none', body: eventsBatchSchema },
  }, async (req, reply) => {
    const events = api.events.add(req.body.events, (i) => `body.events.${i}`, actor(req));
    return reply.status(201).send({ count: events.length, events });
  });

  app.get('/api/v1/events', {
    schema: { tags: ['events'], summary: 'Entered events with their delivery to devices', querystring: eventsQuerySchema },
  }, async (req) => {
    const events = api.eventsRepo().list(req.query);
    return { count: events.length, events };
  });

  app.get('/api/v1/events/:eventId', {
    schema: { tags: ['events'], summary: 'One entered event with its delivery', params: z.strictObject({ eventId: z.string().min(1).max(64) }) },
  }, async (req) => {
    const event = api.eventsRepo().get(req.params.eventId);
    if (event === undefined) throw new PdmError('NOT_FOUND', 'no such event', { context: { eventId: req.params.eventId } });
    return { event };
  });
};

/** Who entered it: the token's name when the API guard runs (auth/guard.ts), else the controller's own API. */
function actor(req: FastifyRequest): { name: string; role: string | null } {
  try {
    return actorOf(req);
  } catch {
    // no guard installed (a controller built without tokens, in tests): nobody to name
    return { name: 'api', role: null };
  }
}

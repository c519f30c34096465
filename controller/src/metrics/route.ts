/** GET /metrics: the Prometheus text exposition of this instance. */
import { z } from 'zod';
import { PdmError } from '@pdm/protocol';
import type { ZodRoutes } from '../http/openapi/index.js';

export const metricsRoutes: ZodRoutes = async (app, { ctx }) => {
  app.get('/metrics', {
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics: fleet, ingest, rollouts, broker, cluster and process (text format 0.0.4)',
      querystring: z.strictObject({}),
    },
  }, async (_req, reply) => {
    if (ctx.metrics === undefined) throw new PdmError('NOT_FOUND', 'metrics are not enabled in this server');
    const { contentType, body } = await ctx.metrics.render();
    return reply.type(contentType).send(body);
  });
};

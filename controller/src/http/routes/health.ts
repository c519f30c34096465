import type { FastifyPluginAsync } from 'fastify';
import type { ApiContext } from '../context.js';

/** GET /healthz: 200 when broker, link, database and ingest are all up, else 503 with what is not. */
export const healthRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get('/healthz', async (_req, reply) => {
    const checks = Object.fromEntries(Object.entries(ctx.health).map(([name, check]) => [name, check()]));
    const ok = Object.values(checks).every((c) => c.ok);
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', checks });
  });
};

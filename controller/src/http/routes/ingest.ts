import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { ApiContext } from '../context.js';
import { parseRequest } from '../validate.js';

/** GET /api/v1/ingest: totals since the database was created. */
export const ingestRoutes: FastifyPluginAsync<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get('/api/v1/ingest', async (req) => {
    parseRequest(z.strictObject({}), req.query, 'query');
    return ctx.stats.totals();
  });
};

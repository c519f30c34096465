import { z } from 'zod';
import type { ZodRoutes } from '../openapi/index.js';

/** GET /api/v1/ingest: totals since the database was created. */
export const ingestRoutes: ZodRoutes = async (app, { ctx }) => {
  app.get('/api/v1/ingest', {
    schema: { tags: ['ingest'], summary: 'Ingest totals per kind, duplicates, conflicts and invalid payloads by code', querystring: z.strictObject({}) },
  }, async () => ctx.stats.totals());
};

/** GET /api/v1/audit: every change, newest first, filtered and paged (`before` = the previous page's `nextBefore`). */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { auditQuerySchema } from '../../audit/audit-log.js';
import type { FleetApi } from '../../rollouts/fleet-api.js';
import { parseRequest, queryInt } from '../validate.js';

const query = auditQuerySchema.extend({
  before: queryInt(z.number().int().min(1)).optional(),
  limit: queryInt(z.number().int().min(1).max(500)).default(50),
});

export const auditRoutes: FastifyPluginAsync<{ api: FleetApi }> = async (app, { api }) => {
  app.get('/api/v1/audit', async (req) => {
    const q = parseRequest(query, req.query, 'query');
    const page = api.audit.list(q);
    return { count: page.entries.length, ...page };
  });
};

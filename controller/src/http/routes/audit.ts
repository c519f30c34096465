/** GET /api/v1/audit: every change, newest first, filtered and paged (`before` = the previous page's `nextBefore`). */
import { z } from 'zod';
import { auditQuerySchema } from '../../audit/audit-log.js';
import type { FleetApi } from '../../rollouts/fleet-api.js';
import type { ZodRoutes } from '../openapi/index.js';
import { queryInt } from '../../query-int.js';

const query = auditQuerySchema.extend({
  before: queryInt(z.number().int().min(1)).optional(),
  limit: queryInt(z.number().int().min(1).max(500)).default(50),
});

export const auditRoutes: ZodRoutes<{ api: FleetApi }> = async (app, { api }) => {
  app.get('/api/v1/audit', {
    schema: { tags: ['audit'], summary: 'Who changed what, when and why: newest first, filtered, paged with before=nextBefore', querystring: query },
  }, async (req) => {
    const page = api.audit.list(req.query);
    return { count: page.entries.length, ...page };
  });
};

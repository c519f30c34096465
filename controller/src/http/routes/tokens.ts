/**
 * API tokens (admin only, permission `tokens:manage`, the list included):
 * POST /api/v1/tokens returns the new token once; GET /api/v1/tokens lists every token without its
 * value; POST /api/v1/tokens/:name/revoke. Each change is audited (src/auth/token-store.ts).
 */
import { z } from 'zod';
import { actorOf } from '../../auth/guard.js';
import { roleSchema } from '../../auth/roles.js';
import { tokenNameSchema } from '../../auth/tokens.js';
import type { FleetApi } from '../../rollouts/fleet-api.js';
import type { ZodRoutes } from '../openapi/index.js';
import { optionalBody } from '../validate.js';

const manage = { permission: 'tokens:manage' } as const;
const reason = z.string().min(1).max(1000).optional();
const createBody = z.strictObject({ name: tokenNameSchema, role: roleSchema, reason });
const nameParams = z.strictObject({ name: tokenNameSchema });

export const tokenRoutes: ZodRoutes<{ api: FleetApi }> = async (app, { api }) => {
  app.post('/api/v1/tokens', {
    config: manage,
    schema: { tags: ['tokens'], summary: 'Create an API token with a role; the token is in this answer only (store it now)', body: createBody },
  }, async (req, reply) => {
    const { token, view } = api.tokens.create(req.body, actorOf(req));
    return reply.status(201).send({ token, info: view });
  });

  app.get('/api/v1/tokens', {
    config: manage,
    schema: { tags: ['tokens'], summary: 'Every API token: name, role, where it comes from, created, last used, revoked (never the token)', querystring: z.strictObject({}) },
  }, async () => {
    const tokens = api.tokens.list();
    return { count: tokens.length, tokens };
  });

  app.post('/api/v1/tokens/:name/revoke', {
    config: manage,
    schema: {
      tags: ['tokens'], summary: 'Revoke a token created through the API: refused from the next request on (repeating it changes nothing)',
      params: nameParams, body: optionalBody(z.strictObject({ reason })),
    },
  }, async (req) => {
    const { changed, view } = api.tokens.revoke(req.params.name, actorOf(req), req.body.reason);
    return { changed, info: view };
  });
};

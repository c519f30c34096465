/**
 * Staged rollouts: POST /api/v1/rollouts, GET /api/v1/rollouts, GET /api/v1/rollouts/:id, and the
 * hand controls POST /api/v1/rollouts/:id/{pause,resume,abort,promote,rollback} with a reason.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { nameSchema } from '@pdm/protocol';
import { actorOf } from '../../auth/guard.js';
import type { FleetApi } from '../../rollouts/fleet-api.js';
import type { RolloutAction } from '../../rollouts/service.js';
import { rolloutRequestSchema, rolloutStates } from '../../rollouts/spec.js';
import { parseRequest, queryInt } from '../validate.js';

const listQuery = z.strictObject({
  state: z.enum(rolloutStates).optional(),
  model: nameSchema.optional(),
  limit: queryInt(z.number().int().min(1).max(500)).default(50),
});
const idParams = z.strictObject({ id: z.string().min(1).max(64) });
const actionParams = idParams.extend({ action: z.enum(['pause', 'resume', 'abort', 'promote', 'rollback']) });
const actionBody = z.strictObject({ reason: z.string().max(1000).optional() });

export const rolloutRoutes: FastifyPluginAsync<{ api: FleetApi }> = async (app, { api }) => {
  app.post('/api/v1/rollouts', { config: { permission: 'rollouts:create' } }, async (req, reply) => {
    const spec = parseRequest(rolloutRequestSchema, req.body, 'body');
    const { created, rollout } = api.rollouts.create(spec, actorOf(req));
    return reply.status(created ? 201 : 200).send({ created, rollout });
  });

  app.get('/api/v1/rollouts', async (req) => {
    const q = parseRequest(listQuery, req.query, 'query');
    const rollouts = api.rollouts.list(q);
    return { count: rollouts.length, rollouts };
  });

  app.get('/api/v1/rollouts/:id', async (req) => {
    const { id } = parseRequest(idParams, req.params, 'params');
    return { rollout: await api.rollouts.detail(id) };
  });

  app.post('/api/v1/rollouts/:id/:action', { config: { permission: 'rollouts:control' } }, async (req) => {
    const { id, action } = parseRequest(actionParams, req.params, 'params');
    const { reason } = parseRequest(actionBody, req.body ?? {}, 'body');
    return { rollout: api.rollouts.act(id, action as RolloutAction, actorOf(req), reason) };
  });
};

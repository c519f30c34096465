/**
 * Staged rollouts: POST /api/v1/rollouts, GET /api/v1/rollouts, GET /api/v1/rollouts/:id, and the
 * hand controls POST /api/v1/rollouts/:id/{pause,resume,abort,promote,rollback} with a reason.
 */
import { z } from 'zod';
import { nameSchema } from '@pdm/protocol';
import { actorOf } from '../../auth/guard.js';
import type { FleetApi } from '../../rollouts/fleet-api.js';
import type { RolloutAction } from '../../rollouts/service.js';
import { rolloutRequestSchema, rolloutStates } from '../../rollouts/spec.js';
import type { ZodRoutes } from '../openapi/index.js';
import { queryInt } from '../../query-int.js';

const listQuery = z.strictObject({
  state: z.enum(rolloutStates).optional(),
  model: nameSchema.optional(),
  limit: queryInt(z.number().int().min(1).max(500)).default(50),
});
const idParams = z.strictObject({ id: z.string().min(1).max(64) });
const actionParams = idParams.extend({ action: z.enum(['pause', 'resume', 'abort', 'promote', 'rollback']) });
const actionBody = z.strictObject({ reason: z.string().max(1000).optional() });

export const rolloutRoutes: ZodRoutes<{ api: FleetApi }> = async (app, { api }) => {
  app.post('/api/v1/rollouts', {
    config: { permission: 'rollouts:create' },
    schema: { tags: ['rollouts'], summary: 'Start a staged rollout of a published model version', body: rolloutRequestSchema },
  }, async (req, reply) => {
    const { created, rollout } = api.rollouts.create(req.body, actorOf(req));
    return reply.status(created ? 201 : 200).send({ created, rollout });
  });

  app.get('/api/v1/rollouts', { schema: { tags: ['rollouts'], summary: 'Rollouts, newest first', querystring: listQuery } }, async (req) => {
    const rollouts = api.rollouts.list(req.query);
    return { count: rollouts.length, rollouts };
  });

  app.get('/api/v1/rollouts/:id', {
    schema: { tags: ['rollouts'], summary: 'One rollout: the current stage\'s gates, its stages and every device', params: idParams },
  }, async (req) => {
    return { rollout: await api.rollouts.detail(req.params.id) };
  });

  app.post('/api/v1/rollouts/:id/:action', {
    config: { permission: 'rollouts:control' },
    schema: {
      tags: ['rollouts'], summary: 'pause, resume, abort, promote or rollback by hand (abort, promote and rollback need a reason)',
      params: actionParams, body: actionBody.optional(),
    },
  }, async (req) => {
    const { id, action } = req.params;
    return { rollout: api.rollouts.act(id, action as RolloutAction, actorOf(req), req.body?.reason) };
  });
};

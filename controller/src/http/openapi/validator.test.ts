/** The zod validator compiler on a small app built the way build-app.ts builds the real one. */
import { fastify, type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toErrorResponse } from '../errors.js';
import { queryInt } from '../../query-int.js';
import { optionalBody } from '../validate.js';
import { registerOpenApi } from './register.js';
import type { ZodRoutes } from './types.js';

const params = z.strictObject({ id: z.string().regex(/^r-\d+$/) });
const body = z.strictObject({ reason: z.string().min(1).max(20), force: z.boolean().default(false) });
const query = z.strictObject({ limit: queryInt(z.number().int().min(1).max(10)).default(5) });

const routes: ZodRoutes<{ prefix?: string }> = async (app) => {
  app.post('/api/v1/things/:id/pause', { schema: { tags: ['t'], summary: 'pause', params, body: optionalBody(body), querystring: query } },
    async (req) => ({ id: req.params.id, reason: req.body.reason ?? null, force: req.body.force, limit: req.query.limit }));
};

let app: FastifyInstance;
beforeAll(async () => {
  app = fastify();
  app.setErrorHandler((err, _req, reply) => { const { status, body: b } = toErrorResponse(err); return reply.status(status).send(b); });
  registerOpenApi(app);
  await app.register(routes);
  await app.ready();
});
afterAll(() => app.close());

const post = (url: string, payload?: unknown) => app.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload: payload as object }) });

describe('zodValidatorCompiler', () => {
  it('hands the handler the parsed values: defaults applied, query integers as numbers', async () => {
    const res = await post('/api/v1/things/r-1/pause?limit=3', { reason: 'drift' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'r-1', reason: 'drift', force: false, limit: 3 });
  });

  it('refuses each part with REQUEST_INVALID naming the field, params first', async () => {
    const cases: [string, unknown, string][] = [
      ['/api/v1/things/x/pause', { reason: 'a' }, 'params.id'],
      ['/api/v1/things/r-1/pause', { reason: '' }, 'body.reason'],
      ['/api/v1/things/r-1/pause', { reason: 'a', colour: 'red' }, 'body.colour'],
      ['/api/v1/things/r-1/pause?limit=11', { reason: 'a' }, 'query.limit'],
      ['/api/v1/things/r-1/pause?limit=1e1', { reason: 'a' }, 'query.limit'],
    ];
    for (const [url, payload, field] of cases) {
      const res = await post(url, payload);
      expect(res.statusCode, field).toBe(400);
      expect(res.json().error, field).toMatchObject({ code: 'REQUEST_INVALID', context: { issues: [{ field }] } });
    }
  });

  it('validates a missing optional body as {} (its schema still decides)', async () => {
    const res = await post('/api/v1/things/r-1/pause');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.context.issues[0].field).toBe('body.reason');
  });

  it('refuses a route schema that is not zod when the route registers', async () => {
    const bad = fastify();
    registerOpenApi(bad);
    bad.get('/api/v1/bad', { schema: { querystring: { type: 'object' } } }, async () => ({}));
    // fastify wraps it: "Failed building the validation schema for GET: /api/v1/bad, due to error route schemas must be zod schemas"
    await expect(bad.ready()).rejects.toThrow(/GET: \/api\/v1\/bad.*route schemas must be zod schemas/);
    await bad.close();
  });
});

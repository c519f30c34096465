/**
 * The model registry and the signing trust:
 * POST /api/v1/models, GET /api/v1/models, /api/v1/models/:name, /api/v1/models/:name/versions/:version,
 * GET /api/v1/trust, POST /api/v1/trust/rotate.
 */
import { z } from 'zod';
import { modelRefSchema, nameSchema } from '@pdm/protocol';
import { actorOf } from '../../auth/guard.js';
import type { FleetApi } from '../../rollouts/fleet-api.js';
import type { ZodRoutes } from '../openapi/index.js';

const base64 = z.string().min(1).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64 (the bytes of the .onnx file)')
  .refine((s) => s.length % 4 === 0, 'base64 length must be a multiple of 4');

const publishBody = z.strictObject({
  name: nameSchema,
  version: modelRefSchema.shape.version,
  /** The model card (models/README.md): validated against the model card schema. */
  card: z.record(z.string(), z.unknown()),
  model: base64,
  reason: z.string().max(1000).optional(),
});

const nameParams = z.strictObject({ name: nameSchema });
const versionParams = z.strictObject({ name: nameSchema, version: modelRefSchema.shape.version });
const rotateBody = z.strictObject({ reason: z.string().min(1).max(1000) });
const none = z.strictObject({});

export const modelRoutes: ZodRoutes<{ api: FleetApi }> = async (app, { api }) => {
  // base64 is 4/3 of the bytes; the card and the JSON around them get 1 MiB. Raised for this route only.
  const bodyLimit = Math.ceil((api.maxModelBytes * 4) / 3) + 1024 * 1024;

  app.post('/api/v1/models', {
    bodyLimit, config: { permission: 'models:publish' },
    schema: { tags: ['models'], summary: 'Publish a model version: ONNX bytes (base64) checked against its model card', body: publishBody },
  }, async (req, reply) => {
    const body = req.body;
    const { created, version } = await api.registry.publish({
      name: body.name, version: body.version, card: body.card, model: Buffer.from(body.model, 'base64'), actor: actorOf(req), reason: body.reason,
    });
    return reply.status(created ? 201 : 200).send({ created, model: version });
  });

  app.get('/api/v1/models', { schema: { tags: ['models'], summary: 'Models in the registry with their latest version and release', querystring: none } }, async () => {
    const models = api.registry.list();
    return { count: models.length, models };
  });

  app.get('/api/v1/models/:name', { schema: { tags: ['models'], summary: 'Every version of one model, newest first', params: nameParams } }, async (req) => {
    const { name } = req.params;
    return { name, versions: api.registry.versions(name) };
  });

  app.get('/api/v1/models/:name/versions/:version', {
    schema: { tags: ['models'], summary: 'One model version with its card and artifact hashes', params: versionParams },
  }, async (req) => {
    const { name, version } = req.params;
    return { model: api.registry.version(name, version) };
  });

  app.get('/api/v1/trust', {
    schema: { tags: ['trust'], summary: 'The public key set devices trust (write it to agent configs as trust.keySetFile)', querystring: none },
  }, async () => ({ keySet: api.keys.keySet(), signingKeyId: api.keys.keyid }));

  app.post('/api/v1/trust/rotate', {
    config: { permission: 'trust:rotate' },
    schema: { tags: ['trust'], summary: 'New signing key; the new key set, signed by the current key, goes to every device', body: rotateBody },
  }, async (req) => {
    const { reason } = req.body;
    const previous = api.keys.keySet().version;
    const { keySet } = api.keys.rotate(actorOf(req), reason);
    // devices are told in the background; offline ones get the chain when they come back
    void api.trustSync.pushAll();
    return { previousVersion: previous, keySet, signingKeyId: api.keys.keyid };
  });
};

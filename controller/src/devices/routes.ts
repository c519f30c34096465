/**
 * Device enrollment over HTTP (permission `devices:enroll`, admin only):
 * POST /api/v1/devices/:deviceId/enroll, POST /api/v1/devices/:deviceId/reissue,
 * POST /api/v1/devices/:deviceId/revoke, GET /api/v1/enrollments, GET /api/v1/enrollments/:deviceId.
 * The password is in the enroll and re-issue answers only; reads never show a secret or a hash.
 */
import { z } from 'zod';
import { PdmError, deviceIdSchema } from '@pdm/protocol';
import { actorOf } from '../auth/guard.js';
import type { ZodRoutes } from '../http/openapi/index.js';
import { enrollRequestSchema, type DeviceEnrollment } from './enrollment.js';
import { tagSchema } from './tags.js';

const params = z.strictObject({ deviceId: deviceIdSchema });
const reasonBody = z.strictObject({ reason: z.string().max(1000).optional() });
const listQuery = z.strictObject({ state: z.enum(['active', 'revoked']).optional(), tag: tagSchema.optional() });

export const enrollmentRoutes: ZodRoutes<{ enrollment: DeviceEnrollment }> = async (app, { enrollment }) => {
  app.post('/api/v1/devices/:deviceId/enroll', {
    config: { permission: 'devices:enroll' },
    schema: {
      tags: ['devices'], summary: 'Enroll a device: its MQTT password (shown once) and the agent config to install with it',
      params, body: enrollRequestSchema,
    },
  }, async (req, reply) => {
    const issued = await enrollment.enroll(req.params.deviceId, req.body, actorOf(req));
    return reply.status(201).send(issued);
  });

  app.post('/api/v1/devices/:deviceId/reissue', {
    config: { permission: 'devices:enroll' },
    schema: { tags: ['devices'], summary: 'New MQTT password for an enrolled device; the old one stops working and the device is disconnected', params, body: reasonBody },
  }, async (req) => enrollment.reissue(req.params.deviceId, actorOf(req), req.body.reason));

  app.post('/api/v1/devices/:deviceId/revoke', {
    config: { permission: 'devices:enroll' },
    schema: { tags: ['devices'], summary: 'Revoke a device\'s credentials and disconnect it', params, body: reasonBody },
  }, async (req) => ({ device: await enrollment.revoke(req.params.deviceId, actorOf(req), req.body.reason) }));

  app.get('/api/v1/enrollments', {
    schema: { tags: ['devices'], summary: 'Enrolled devices (never their passwords)', querystring: listQuery },
  }, async (req) => {
    const devices = enrollment.list(req.query);
    return { count: devices.length, devices };
  });

  app.get('/api/v1/enrollments/:deviceId', {
    schema: { tags: ['devices'], summary: 'One enrolled device (never its password)', params },
  }, async (req) => {
    const device = enrollment.get(req.params.deviceId);
    if (device === undefined) throw new PdmError('NOT_FOUND', 'device is not enrolled', { context: { deviceId: req.params.deviceId } });
    return { device };
  });
};

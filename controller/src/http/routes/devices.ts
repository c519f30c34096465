import { z } from 'zod';
import { PdmError, deviceIdSchema, nameSchema } from '@pdm/protocol';
import { enrollmentRoutes } from '../../devices/routes.js';
import type { ZodRoutes } from '../openapi/index.js';
import { queryInt } from '../../query-int.js';

const listQuery = z.strictObject({
  state: z.enum(['unknown', 'online', 'offline']).optional(),
  site: nameSchema.optional(),
  assetClass: nameSchema.optional(),
  limit: queryInt(z.number().int().min(1).max(10_000)).optional()
    .describe('a page of at most this many devices (by deviceId); default: every matching device'),
  after: deviceIdSchema.optional().describe('the page after this deviceId: the previous page\'s `next` (needs limit)'),
}).refine((q) => q.after === undefined || q.limit !== undefined, { message: 'a page after a device needs limit', path: ['after'] });

const summaryQuery = z.strictObject({
  site: nameSchema.optional(),
  assetClass: nameSchema.optional(),
  top: queryInt(z.number().int().min(1).max(100)).default(20).describe('how many devices to list by outbox depth at their last heartbeat, most records waiting first'),
});

const limit = (fallback: number) => queryInt(z.number().int().min(0).max(1000)).default(fallback);
const detailQuery = z.strictObject({
  predictions: limit(20),
  alerts: limit(20),
  events: limit(20),
  deployments: limit(20),
  gaps: limit(50),
});

const params = z.strictObject({ deviceId: deviceIdSchema });

// The schemas in each route's options validate the request and make the OpenAPI document (/docs).
export const deviceRoutes: ZodRoutes = async (app, { ctx }) => {
  if (ctx.enrollment !== undefined) await app.register(enrollmentRoutes, { enrollment: ctx.enrollment });
  app.get('/api/v1/devices', {
    schema: { tags: ['devices'], summary: 'List devices with presence, models, delivery and heartbeat counters; paged with limit and after=next', querystring: listQuery },
  }, async (req) => {
    const { limit, after, ...filter } = req.query;
    if (limit === undefined) {
      const devices = ctx.devices.list(filter);
      return { count: devices.length, devices };
    }
    // count: every matching device, as without a page; `next` is the `after` of the next page
    return ctx.devices.page(filter, { after, limit });
  });

  // beside the devices, not under them: any device id, "summary" included, stays readable at /devices/:deviceId
  app.get('/api/v1/fleet/summary', {
    schema: {
      tags: ['devices'],
      summary: 'Devices by state, outbox and dropped sums, devices per model version, and the devices with the most records waiting in their outbox',
      querystring: summaryQuery,
    },
  }, async (req) => {
    const { top, ...filter } = req.query;
    return ctx.devices.summary(filter, top);
  });

  app.get('/api/v1/devices/:deviceId', {
    schema: {
      tags: ['devices'], summary: 'One device with its latest records, metric summary, invalid payloads and seq gaps',
      params, querystring: detailQuery,
    },
  }, async (req) => {
    const { deviceId } = req.params;
    const q = req.query;
    const device = ctx.devices.get(deviceId);
    if (device === undefined) throw new PdmError('NOT_FOUND', 'no such device', { context: { deviceId } });
    const records = ctx.records;
    return {
      device,
      predictions: records.predictions(deviceId, q.predictions),
      alerts: records.alerts(deviceId, q.alerts),
      events: records.events(deviceId, q.events),
      deployments: records.deployments(deviceId, q.deployments),
      metrics: records.metricsSummary(deviceId),
      stored: records.storedCounts(deviceId),
      invalidPayloads: ctx.stats.invalidForDevice(deviceId),
      // holes in the stored seqs (device.delivery says what the device dropped on purpose)
      seqGaps: ctx.devices.gaps(deviceId, q.gaps),
    };
  });
};

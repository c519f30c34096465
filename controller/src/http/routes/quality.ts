/**
 * Model quality: per version with 95% Wilson intervals, a comparison of two versions, the overview of
 * every version, and quality alerts (controller/README.md, "Model quality"; docs/metrics.md).
 */
import { z } from 'zod';
import { PdmError, deviceIdSchema, modelRefSchema, modelRoleSchema, nameSchema, timeSchema } from '@pdm/protocol';
import type { InsightsApi } from '../../quality/wiring.js';
import type { ZodRoutes } from '../openapi/index.js';

const versionParams = z.strictObject({ name: nameSchema, version: modelRefSchema.shape.version });
const deviceList = z.string().min(1).max(10_000)
  .transform((s) => s.split(',').map((d) => d.trim()))
  .pipe(z.array(deviceIdSchema).max(1000))
  .describe('comma-separated device ids');

const versionQuery = z.strictObject({
  role: modelRoleSchema.optional().describe('active or shadow (default: both)'),
  from: timeSchema.optional().describe('windows ending after this event time'),
  to: timeSchema.optional().describe('windows starting before this event time'),
  deviceIds: deviceList.optional(),
  bucketHours: z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v), z.number().int().min(1).max(24 * 366)).optional()
    .describe('series buckets of this many hours, aligned to the epoch (default: the devices\' windows)'),
});

const compareQuery = z.strictObject({
  a: modelRefSchema.shape.version.describe('the version compared against (e.g. the active one)'),
  b: modelRefSchema.shape.version.describe('the version compared (e.g. a shadow candidate)'),
  from: timeSchema.optional(),
  to: timeSchema.optional(),
  role: modelRoleSchema.optional(),
});

const alertsQuery = z.strictObject({
  state: z.enum(['active', 'resolved', 'all']).default('active'),
  model: nameSchema.optional(),
});

export const qualityRoutes: ZodRoutes<{ api: InsightsApi }> = async (app, { api }) => {
  app.get('/api/v1/quality', {
    schema: { tags: ['quality'], summary: 'Every model version and role with matured-prediction totals', querystring: z.strictObject({ model: nameSchema.optional() }) },
  }, async (req) => ({
    minMatured: api.quality.settings.minMatured,
    versions: api.quality.overview(req.query.model),
    activeAlerts: api.alerts.list('active').length,
  }));

  app.get('/api/v1/quality/alerts', {
    schema: { tags: ['quality'], summary: 'Quality alerts: precision or recall drops below baseline, drift above threshold', querystring: alertsQuery },
  }, async (req) => {
    const alerts = api.alerts.list(req.query.state, req.query.model);
    return { count: alerts.length, alerts };
  });

  app.get('/api/v1/models/:name/versions/:version/quality', {
    schema: {
      tags: ['quality'], summary: 'Quality of one model version: totals and series with 95% Wilson intervals, event figures, drift',
      params: versionParams, querystring: versionQuery,
    },
  }, async (req) => {
    const { name, version } = req.params;
    if (!api.quality.known(name, version)) {
      throw new PdmError('NOT_FOUND', 'no predictions, quality or drift windows of this model version', { context: { name, version } });
    }
    return api.quality.version(name, version, req.query);
  });

  app.get('/api/v1/models/:name/compare', {
    schema: {
      tags: ['quality'], summary: 'Two versions of a model on the same devices and period',
      params: z.strictObject({ name: nameSchema }), querystring: compareQuery,
    },
  }, async (req) => {
    const { name } = req.params;
    const { a, b, ...rest } = req.query;
    for (const v of [a, b]) {
      if (!api.quality.known(name, v)) throw new PdmError('NOT_FOUND', 'no data of this model version', { context: { name, version: v } });
    }
    return api.quality.compare(name, a, b, rest);
  });
};

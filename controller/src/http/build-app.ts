/**
 * The fastify application: error mapping, not-found, the OpenAPI document, and one plugin per
 * resource. Routes declare zod schemas in their options (controller/README.md, "Adding a route").
 */
import { LogController, fastify, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { PdmError } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import type { ApiContext } from './context.js';
import { toErrorResponse } from './errors.js';
import { metricsRoutes } from '../metrics/route.js';
import { registerOpenApi } from './openapi/index.js';
import { deviceRoutes } from './routes/devices.js';
import { healthRoutes } from './routes/health.js';
import { ingestRoutes } from './routes/ingest.js';
import { auditRoutes } from './routes/audit.js';
import { modelRoutes } from './routes/models.js';
import { rolloutRoutes } from './routes/rollouts.js';
import { installGuard } from '../auth/guard.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { eventRoutes } from './routes/events.js';
import { qualityRoutes } from './routes/quality.js';
import { reportRoutes } from './routes/reports.js';
import { tokenRoutes } from './routes/tokens.js';

/**
 * Largest request body of every route that sets no limit of its own (the model upload does): 1 MiB
 * holds a batch of 1000 machine events several times over. A larger body is refused with 413
 * PAYLOAD_TOO_LARGE as soon as its Content-Length (or the bytes read so far) passes the limit.
 */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export function buildHttpApp(ctx: ApiContext, log: Logger): FastifyInstance {
  // Per-request log lines cost ~40% of throughput (PLATFORM.md); failures are logged below instead.
  const loggerInstance: FastifyBaseLogger = log;
  const app = fastify({ loggerInstance, logController: new LogController({ disableRequestLogging: true }), bodyLimit: BODY_LIMIT_BYTES });
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorResponse(err, { bodyLimit: req.routeOptions.bodyLimit });
    if (status >= 500) log.error({ err, method: req.method, url: req.url }, 'request failed');
    else log.debug({ code: body.error.code, method: req.method, url: req.url }, 'request refused');
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const err = new PdmError('NOT_FOUND', 'no such route', { context: { method: req.method, url: req.url.slice(0, 200) } });
    const { status, body } = toErrorResponse(err);
    return reply.status(status).send(body);
  });
  // Before any route plugin: the document is built from the routes' zod schemas as they register.
  registerOpenApi(app);
  // Before any route: tokens and roles are checked for every route, whichever plugin adds it.
  if (ctx.fleet !== undefined) installGuard(app, ctx.fleet.tokens, ctx.fleet.reads);
  void app.register(healthRoutes, { ctx });
  void app.register(metricsRoutes, { ctx });
  void app.register(deviceRoutes, { ctx });
  void app.register(ingestRoutes, { ctx });
  if (ctx.fleet !== undefined) {
    void app.register(modelRoutes, { api: ctx.fleet });
    void app.register(rolloutRoutes, { api: ctx.fleet });
    void app.register(auditRoutes, { api: ctx.fleet });
    void app.register(tokenRoutes, { api: ctx.fleet });
  }
  if (ctx.insights !== undefined) {
    void app.register(qualityRoutes, { api: ctx.insights });
    void app.register(reportRoutes, { api: ctx.insights });
    void app.register(eventRoutes, { api: ctx.insights });
  }
  void app.register(dashboardRoutes);
  return app;
}

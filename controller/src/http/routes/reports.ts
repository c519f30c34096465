/**
 * Reliability reports for maintenance planners: JSON, or the groups table as CSV with
 * `Accept: text/csv` or `format=csv` (controller/README.md, "Reliability reports"; docs/metrics.md).
 * JSON is a page of the groups by default; the CSV is the whole table unless a page is asked for.
 */
import type { InsightsApi } from '../../quality/wiring.js';
import { reliabilityQuerySchema, withDefaultPage } from '../../reliability/reliability-service.js';
import type { ZodRoutes } from '../openapi/index.js';

export const reportRoutes: ZodRoutes<{ api: InsightsApi }> = async (app, { api }) => {
  app.get('/api/v1/reports/reliability', {
    schema: {
      tags: ['reports'],
      summary: 'MTBF (SMRP 3.5.1), MTTR (3.5.2), availability, downtime by cause, trend, Pareto and model-version impact per asset, class or site',
      querystring: reliabilityQuerySchema,
    },
  }, async (req, reply) => {
    const { format, ...q } = req.query;
    const csv = format === 'csv' || (format === undefined && wantsCsv(req.headers.accept));
    // rendered off the event loop, or kept from an earlier request of unchanged data (reliability/report-jobs.ts)
    const as = csv ? 'csv' : 'json';
    const { body, cache } = await api.reports.render(withDefaultPage(q, as), as);
    reply.header('x-pdm-report-cache', cache);
    if (csv) reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="reliability.csv"');
    else reply.header('content-type', 'application/json; charset=utf-8');
    return reply.send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
};

/** True when the client prefers CSV over JSON (a bare Accept: text/csv, or listed before JSON). */
function wantsCsv(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const types = accept.split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
  const csv = types.indexOf('text/csv');
  const json = types.indexOf('application/json');
  return csv >= 0 && (json < 0 || csv < json);
}

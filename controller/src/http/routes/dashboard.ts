/**
 * The dashboard (src/web/): GET / serves the page, /dashboard/* its script, style and Chart.js. The
 * page reads the public HTTP API; it holds no data of its own. Not in the OpenAPI document.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { dashboardAssets, type Asset } from '../../web/assets.js';

// Everything from this origin; Chart.js sizes canvases through style attributes.
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'";

export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const assets = dashboardAssets();
  const send = (reply: FastifyReply, asset: Asset) => reply
    .header('content-type', asset.type)
    .header('cache-control', 'no-cache')
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .send(asset.body);
  const page = assets.get('index.html')!;
  app.get('/', { schema: { hide: true } }, async (_req, reply) => send(reply, page));
  app.get('/dashboard', { schema: { hide: true } }, async (_req, reply) => send(reply, page));
  for (const [name, asset] of assets) {
    if (name === 'index.html') continue;
    app.get(`/dashboard/${name}`, { schema: { hide: true } }, async (_req, reply) => send(reply, asset));
  }
};

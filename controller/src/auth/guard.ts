/**
 * The one place HTTP requests are authenticated and authorised: an app-wide onRequest hook, so it
 * runs before the body is read (an unauthenticated 100 MB upload is refused before it is buffered)
 * and covers every plugin's routes, including ones added later.
 *
 * - Mutating methods (anything but GET, HEAD, OPTIONS) need `Authorization: Bearer <token>`:
 *   401 UNAUTHORIZED without one or with an unknown one, 403 FORBIDDEN when the token's role lacks the
 *   route's permission (route config `permission`, see roles.ts). A read route that names a
 *   permission is guarded the same way, whatever `apiReads` says.
 * - Reads under /api/ are open by default (`apiReads: "open"`): the controller binds to 127.0.0.1
 *   unless told otherwise, its readers are dashboards and scripts on the same host or a trusted plant
 *   network, and nothing it serves is a secret (the signing key and tokens never leave their files).
 *   `apiReads: "token"` makes them need a token of any role, viewer included. /healthz stays open
 *   for load balancers and process supervisors.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PdmError } from '@pdm/protocol';
import { allows, type Actor, type Permission } from './roles.js';
import type { ApiTokens } from './tokens.js';

export type ApiReads = 'open' | 'token';

/** Route config read by the guard: `app.post(url, { config: { permission: 'models:publish' } }, handler)`. */
export interface GuardedRouteConfig {
  permission?: Permission;
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const actors = new WeakMap<FastifyRequest, Actor>();

export function installGuard(app: FastifyInstance, tokens: Pick<ApiTokens, 'identify'>, reads: ApiReads): void {
  app.addHook('onRequest', async (req, reply) => {
    // an unknown route: the not-found handler answers 404 whatever the token
    const route = req.routeOptions.url;
    if (route === undefined) return;
    const permission = (req.routeOptions.config as GuardedRouteConfig).permission;
    const guarded = !READ_METHODS.has(req.method) || permission !== undefined;
    // the matched route, not req.url: the router decodes %61pi into api, a prefix test on the raw url would not
    if (!guarded && (reads === 'open' || !route.startsWith('/api/'))) return;
    const actor = authenticate(req, reply, tokens);
    if (guarded && !allows(actor.role!, permission)) {
      throw new PdmError('FORBIDDEN', `role ${actor.role} may not ${permission ?? 'call this route'}`, {
        context: { actor: actor.name, role: actor.role, permission: permission ?? null },
      });
    }
    actors.set(req, actor);
  });
  if (reads === 'open') app.addHook('onListen', async () => warnIfReachable(app));
}

/** Open reads are meant for the host itself; say so when the API listens beyond it (host 0.0.0.0 etc.). */
function warnIfReachable(app: FastifyInstance): void {
  const address = app.server.address();
  if (address === null || typeof address === 'string' || isLoopback(address.address)) return;
  app.log.warn({ address: address.address, port: address.port }, 'api reads need no token (apiReads "open") and the API is reachable beyond this host');
}

const isLoopback = (ip: string): boolean => ip === '::1' || ip.startsWith('127.') || ip === '::ffff:127.0.0.1';

function authenticate(req: FastifyRequest, reply: FastifyReply, tokens: Pick<ApiTokens, 'identify'>): Actor {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  const actor = match === null ? undefined : tokens.identify(match[1]!);
  if (actor === undefined) {
    // RFC 6750 section 3: a 401 names the scheme the client should use
    void reply.header('www-authenticate', 'Bearer realm="pdm"');
    throw new PdmError('UNAUTHORIZED', header === undefined ? 'this route needs Authorization: Bearer <token>' : 'unknown or malformed bearer token');
  }
  return actor;
}

/** The actor the guard let through; a mutating route's handler always has one. */
export function actorOf(req: FastifyRequest): Actor {
  const actor = actors.get(req);
  if (actor === undefined) throw new PdmError('INTERNAL', 'route reached without passing the guard', { context: { url: req.url } });
  return actor;
}

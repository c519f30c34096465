/**
 * The role x route matrix, generated from the fastify route table (every route the app registered,
 * collected by the onRoute hook in http/openapi/register.ts), so a route added later is covered
 * without anyone listing it here: without a token 401, for each role lacking the route's permission
 * 403, and the roles holding it get past the guard.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fastify, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT_BYTES } from '../http/build-app.js';
import { registeredRoutes } from '../http/openapi/index.js';
import { captureLogs } from '../testing/log-capture.js';
import { tempDir } from '../testing/temp-dir.js';
import { startRolloutHarness, type RolloutHarness } from '../rollouts/testing/harness.js';
import { allows, permissions, roles, type Permission, type Role } from './roles.js';
import { ADMIN_TOKEN_FILE, hashToken } from './tokens.js';
import { installGuard, type GuardedRouteConfig } from './guard.js';

const tokens: Record<Role, string> = {
  admin: 'admin-token-0123456789abcdefghij',
  engineer: 'engineer-token-0123456789abcdef',
  planner: 'planner-token-0123456789abcdefg',
  viewer: 'viewer-token-0123456789abcdefgh',
};
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface ApiRoute {
  method: string;
  /** The route's url with every :param filled in */
  url: string;
  permission: Permission | undefined;
  /** needs a token whatever apiReads says: mutating, or a read that names a permission */
  guarded: boolean;
}

/** Every route under /api/, one entry per method, from the app's own route table. */
function apiRoutes(app: FastifyInstance): ApiRoute[] {
  return registeredRoutes(app).filter((r) => r.url.startsWith('/api/')).flatMap((r) => {
    const permission = (r.config as GuardedRouteConfig | undefined)?.permission;
    const url = r.url.replace(/:(\w+)/g, 'x-$1');
    return [r.method].flat().map((method) => ({ method, url, permission, guarded: !READS.has(method) || permission !== undefined }));
  });
}

interface ErrorBody { code: string; context: Record<string, unknown> }
type Call = (route: ApiRoute, token: string | null) => Promise<{ status: number; error: ErrorBody | undefined }>;

/** True when the answer is `status` with the error `code` (and the context, when it has a body). */
function refusal(res: { status: number; error: ErrorBody | undefined }, route: ApiRoute, status: number, code: string, context: Record<string, unknown> = {}): boolean {
  if (res.status !== status) return false;
  if (route.method === 'HEAD') return res.error === undefined;
  return res.error?.code === code && Object.entries(context).every(([k, v]) => res.error?.context[k] === v);
}

function caller(app: FastifyInstance): Call {
  return async (route, token) => {
    const res = await app.inject({
      method: route.method as 'GET', url: route.url, ...(READS.has(route.method) ? {} : { payload: {} }),
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
    // a HEAD answer has no body to check
    return { status: res.statusCode, error: res.body === '' ? undefined : (res.json() as { error?: ErrorBody }).error };
  };
}

/** Runs `check` over every route (and role), returning what failed, so one run names every hole. */
async function failures(routes: ApiRoute[], check: (route: ApiRoute) => Promise<string | undefined>): Promise<string[]> {
  const found: string[] = [];
  for (const route of routes) {
    const problem = await check(route);
    if (problem !== undefined) found.push(`${route.method} ${route.url}: ${problem}`);
  }
  return found;
}

const passed = (status: number) => status !== 401 && status !== 403;

let h: RolloutHarness;
let routes: ApiRoute[];
let call: Call;
const dir = tempDir('pdm-tokens-');

beforeAll(async () => {
  // sha256 for three of them, a plain token for one: both forms of the tokens file
  const file = join(dir.path, 'tokens.json');
  writeFileSync(file, JSON.stringify({
    tokens: [
      { name: 'root', role: 'admin', sha256: hashToken(tokens.admin) },
      { name: 'alice', role: 'engineer', sha256: hashToken(tokens.engineer) },
      { name: 'pat', role: 'planner', token: tokens.planner },
      { name: 'val', role: 'viewer', sha256: hashToken(tokens.viewer) },
    ],
  }));
  h = await startRolloutHarness({ flags: { tokensFile: file, apiReads: 'token' } });
  routes = apiRoutes(h.tc.app.http.app);
  call = caller(h.tc.app.http.app);
});
afterAll(async () => {
  await h.stop();
  dir.remove();
});

describe('the route table the matrix is generated from', () => {
  it('holds every resource\'s routes, and every mutating route names its permission', () => {
    const names = new Set(routes.map((r) => `${r.method} ${r.url}`));
    for (const known of ['POST /api/v1/models', 'POST /api/v1/rollouts/x-id/x-action', 'POST /api/v1/trust/rotate', 'POST /api/v1/events',
      'POST /api/v1/tokens', 'GET /api/v1/tokens', 'POST /api/v1/tokens/x-name/revoke', 'GET /api/v1/devices', 'GET /api/v1/reports/reliability',
      'GET /api/v1/quality', 'GET /api/v1/audit', 'HEAD /api/v1/devices']) {
      expect(names, known).toContain(known);
    }
    // the guard's fallback (admin only) is a safety net, not a way to leave a route's roles unsaid
    expect(routes.filter((r) => !READS.has(r.method) && r.permission === undefined).map((r) => `${r.method} ${r.url}`)).toEqual([]);
    expect(routes.filter((r) => r.permission !== undefined && !Object.hasOwn(permissions, r.permission)).map((r) => `${r.url}: ${r.permission}`)).toEqual([]);
  });

  it('gives planners reads and machine events only: no models, rollouts, enrollment, keys or tokens', () => {
    const held = (role: Role) => (Object.keys(permissions) as Permission[]).filter((p) => allows(role, p));
    expect(held('planner')).toEqual(['events:record']);
    expect(held('viewer')).toEqual([]);
    expect(held('admin')).toEqual(Object.keys(permissions));
  });
});

describe('API guard: role x route, generated', () => {
  it('answers 401 with WWW-Authenticate on every /api/ route without a token or with an unknown one (apiReads "token")', async () => {
    expect(await failures(routes, async (route) => {
      for (const token of [null, 'not-a-known-token-0123456789abc']) {
        const res = await call(route, token);
        if (!refusal(res, route, 401, 'UNAUTHORIZED')) return `${res.status} ${res.error?.code} with token ${token}`;
      }
      return undefined;
    })).toEqual([]);
    const res = await h.tc.app.http.app.inject({ url: '/api/v1/devices' });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="pdm"');
  });

  it('answers 403 FORBIDDEN naming the role on every guarded route for each role lacking its permission, and lets the others past', async () => {
    const guarded = routes.filter((r) => r.guarded);
    expect(guarded.length).toBeGreaterThanOrEqual(10);
    expect(await failures(guarded, async (route) => {
      const wrong: string[] = [];
      for (const role of roles) {
        const res = await call(route, tokens[role]);
        if (allows(role, route.permission)) {
          if (!passed(res.status)) wrong.push(`${role}: ${res.status}, expected past the guard`);
        } else if (!refusal(res, route, 403, 'FORBIDDEN', { role, permission: route.permission ?? null })) {
          wrong.push(`${role}: ${res.status} ${res.error?.code}, expected 403 FORBIDDEN`);
        }
      }
      return wrong.length === 0 ? undefined : wrong.join('; ');
    })).toEqual([]);
  });

  it('lets every role, viewer included, past the guard on every read that names no permission', async () => {
    const reads = routes.filter((r) => !r.guarded);
    expect(reads.length).toBeGreaterThanOrEqual(15);
    expect(await failures(reads, async (route) => {
      const refused = [];
      for (const role of roles) {
        const res = await call(route, tokens[role]);
        if (!passed(res.status)) refused.push(`${role}: ${res.status}`);
      }
      return refused.length === 0 ? undefined : refused.join('; ');
    })).toEqual([]);
  });

  it('guards a read whose path is percent-encoded as strictly as the plain one', async () => {
    for (const url of ['/%61pi/v1/devices', '/api/v1/%64evices', '/api/v1/devices/']) {
      expect((await h.tc.app.http.app.inject({ url })).statusCode, url).toBe(401);
    }
  });

  it('refuses a malformed header and never authenticates with the generated admin token when a tokens file is set', async () => {
    const basic = await h.tc.app.http.app.inject({ method: 'POST', url: '/api/v1/models', payload: {}, headers: { authorization: `Basic ${tokens.admin}` } });
    expect(basic.statusCode).toBe(401);
    expect(existsSync(join(h.tc.config.dataDir, ADMIN_TOKEN_FILE))).toBe(false);
    expect((await h.tc.app.http.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it('records who did what with their token name and role', async () => {
    const rotated = await h.api('POST', '/api/v1/trust/rotate', { reason: 'yearly rotation' }, tokens.admin);
    expect(rotated.status).toBe(200);
    const entry = (await h.api('GET', '/api/v1/audit?action=trust.rotate', undefined, tokens.viewer)).body.entries[0];
    expect(entry).toMatchObject({ actor: 'root', role: 'admin', action: 'trust.rotate', reason: 'yearly rotation', target: { type: 'trust', id: '2' } });
  });
});

describe('HTTP body limits', () => {
  const post = (url: string, bytes: number, token: string | null) => h.tc.app.http.app.inject({
    method: 'POST', url, payload: JSON.stringify({ pad: 'x'.repeat(bytes - 10) }),
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
  });

  it('refuses a JSON body over 1 MiB with 413 PAYLOAD_TOO_LARGE naming the limit, after the guard', async () => {
    const big = await post('/api/v1/events', BODY_LIMIT_BYTES + 1, tokens.planner);
    expect(big.statusCode).toBe(413);
    expect(big.json()).toEqual({
      error: {
        code: 'PAYLOAD_TOO_LARGE', message: `request body is larger than this route's limit of ${BODY_LIMIT_BYTES} bytes`,
        context: { fastifyCode: 'FST_ERR_CTP_BODY_TOO_LARGE', limitBytes: BODY_LIMIT_BYTES },
      },
    });
    // just under the limit: read, then refused for what it says
    expect((await post('/api/v1/events', BODY_LIMIT_BYTES - 100, tokens.planner)).statusCode).toBe(400);
    // nobody's body is read before the guard has let them in
    expect((await post('/api/v1/events', BODY_LIMIT_BYTES + 1, null)).statusCode).toBe(401);
  });

  it('keeps the model upload\'s own larger limit', async () => {
    const res = await post('/api/v1/models', 3 * BODY_LIMIT_BYTES, tokens.engineer);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('REQUEST_INVALID');
  });
});

describe('API guard with reads open (the default)', () => {
  it('warns when the API listens beyond this host, and not on loopback', async () => {
    const warned = async (host: string) => {
      const { log, lines } = captureLogs('info');
      const app = fastify({ loggerInstance: log as FastifyBaseLogger });
      installGuard(app, { identify: () => undefined }, 'open');
      await app.listen({ host, port: 0 });
      await app.close();
      return lines.filter((l) => l.msg === 'api reads need no token (apiReads "open") and the API is reachable beyond this host');
    };
    expect(await warned('0.0.0.0')).toEqual([expect.objectContaining({ level: 40, address: '0.0.0.0' })]);
    expect(await warned('127.0.0.1')).toEqual([]);
  });

  it('lets every read without a permission through without a token, and still guards the rest', async () => {
    const g = await startRolloutHarness();
    try {
      const open = caller(g.tc.app.http.app);
      const table = apiRoutes(g.tc.app.http.app);
      expect(await failures(table, async (route) => {
        const res = await open(route, null);
        if (route.guarded) return res.status === 401 ? undefined : `${res.status} without a token, expected 401`;
        return passed(res.status) ? undefined : `${res.status} without a token, expected past the guard`;
      })).toEqual([]);
    } finally {
      await g.stop();
    }
  });
});

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../testing/temp-dir.js';
import { startRolloutHarness, type RolloutHarness } from '../rollouts/testing/harness.js';
import { ADMIN_TOKEN_FILE, hashToken } from './tokens.js';

const tokens = {
  admin: 'admin-token-0123456789abcdefghij',
  engineer: 'engineer-token-0123456789abcdef',
  planner: 'planner-token-0123456789abcdefg',
  viewer: 'viewer-token-0123456789abcdefgh',
} as const;
type Role = keyof typeof tokens;
const roles = Object.keys(tokens) as Role[];

/** Every mutating route of the registry, trust and rollouts, and the roles that may call it. */
const matrix: { method: 'POST'; url: string; allowed: Role[] }[] = [
  { method: 'POST', url: '/api/v1/models', allowed: ['admin', 'engineer'] },
  { method: 'POST', url: '/api/v1/rollouts', allowed: ['admin', 'engineer'] },
  ...['pause', 'resume', 'abort', 'promote', 'rollback'].map((a) => ({ method: 'POST' as const, url: `/api/v1/rollouts/ro-none/${a}`, allowed: ['admin', 'engineer'] as Role[] })),
  { method: 'POST', url: '/api/v1/trust/rotate', allowed: ['admin'] },
];

let h: RolloutHarness;
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
  h = await startRolloutHarness({ flags: { tokensFile: file } });
});
afterAll(async () => {
  await h.stop();
  dir.remove();
});

describe('API guard: role x route', () => {
  it.each(matrix.flatMap((r) => roles.map((role) => [r.method, r.url, role, r.allowed.includes(role)] as const)))(
    '%s %s as %s: allowed %s',
    async (method, url, role, allowed) => {
      const res = await h.api(method, url, {}, tokens[role]);
      if (allowed) {
        // past the guard: the body (empty) or the resource is what is wrong now
        expect([400, 404]).toContain(res.status);
      } else {
        expect(res.status).toBe(403);
        expect(res.body.error).toMatchObject({ code: 'FORBIDDEN', context: { role } });
      }
    },
  );

  it.each(matrix.map((r) => [r.method, r.url] as const))('%s %s without a token or with an unknown one: 401', async (method, url) => {
    for (const token of [null, 'not-a-known-token-0123456789abc']) {
      const res = await h.tc.app.http.app.inject({ method, url, payload: {}, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="pdm"');
      expect(res.json().error.code).toBe('UNAUTHORIZED');
    }
  });

  it('refuses a malformed header and never authenticates with the generated admin token when a tokens file is set', async () => {
    const basic = await h.tc.app.http.app.inject({ method: 'POST', url: '/api/v1/models', payload: {}, headers: { authorization: `Basic ${tokens.admin}` } });
    expect(basic.statusCode).toBe(401);
    expect(existsSync(join(h.tc.config.dataDir, ADMIN_TOKEN_FILE))).toBe(false);
  });

  it('keeps reads open by default, and records who did what with their token name and role', async () => {
    for (const url of ['/api/v1/models', '/api/v1/rollouts', '/api/v1/audit', '/api/v1/trust', '/api/v1/devices']) {
      expect((await h.api('GET', url, undefined, null)).status, url).toBe(200);
    }
    const rotated = await h.api('POST', '/api/v1/trust/rotate', { reason: 'yearly rotation' }, tokens.admin);
    expect(rotated.status).toBe(200);
    const entry = (await h.api('GET', '/api/v1/audit?action=trust.rotate', undefined, null)).body.entries[0];
    expect(entry).toMatchObject({ actor: 'root', role: 'admin', action: 'trust.rotate', reason: 'yearly rotation', target: { type: 'trust', id: '2' } });
  });
});

describe('API guard with apiReads "token"', () => {
  it('needs a token of any role for reads under /api/, but not for /healthz', async () => {
    const g = await startRolloutHarness({ flags: { apiReads: 'token' } });
    try {
      expect((await g.api('GET', '/api/v1/rollouts', undefined, null)).status).toBe(401);
      expect((await g.api('GET', '/api/v1/rollouts', undefined, g.adminToken)).status).toBe(200);
      expect((await g.tc.app.http.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await g.stop();
    }
  });
});

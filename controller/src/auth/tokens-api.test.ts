/** Tokens created, listed and revoked through the API and pdmctl, on a whole controller (real SQLite). */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPdmctl } from '../cli/run.js';
import { startRolloutHarness, type RolloutHarness } from '../rollouts/testing/harness.js';
import { tempDir } from '../testing/temp-dir.js';
import { ADMIN_TOKEN_FILE, hashToken } from './tokens.js';

let h: RolloutHarness;
const dir = tempDir('pdm-tokens-api-');

beforeAll(async () => { h = await startRolloutHarness({ dataDir: dir.path }); });
afterAll(async () => {
  await h.stop();
  dir.remove();
});

const audit = async (action: string) => (await h.api('GET', `/api/v1/audit?action=${action}`)).body.entries;

async function ctl(args: string[], auth: Record<string, string> = { PDM_TOKEN: h.adminToken }): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const env = { PDM_URL: `http://127.0.0.1:${h.tc.app.http.port}`, ...auth };
  const code = await runPdmctl(args, { env, writers: { stdout: (t) => { out += t; }, stderr: (t) => { err += t; } } });
  return { code, out, err };
}

describe('API tokens through the API', () => {
  let alice: string;

  it('creates a token once, for its role only, and audits who created it', async () => {
    const created = await h.api('POST', '/api/v1/tokens', { name: 'alice', role: 'engineer', reason: 'new reliability engineer' });
    expect(created.status).toBe(201);
    alice = created.body.token;
    expect(alice).toMatch(/^pdm_[A-Za-z0-9_-]{43}$/);
    expect(created.body.info).toEqual({
      name: 'alice', role: 'engineer', source: 'api', created: new Date(h.clock.now()).toISOString(), createdBy: 'admin',
      lastUsed: null, revoked: null, revokedBy: null,
    });
    // an engineer's token starts rollouts (past the guard: the empty body is what is wrong) but manages no tokens
    expect((await h.api('POST', '/api/v1/rollouts', {}, alice)).status).toBe(400);
    expect((await h.api('POST', '/api/v1/tokens', { name: 'mallory', role: 'admin' }, alice)).body.error).toMatchObject({ code: 'FORBIDDEN', context: { role: 'engineer' } });
    expect((await h.api('GET', '/api/v1/tokens', undefined, alice)).status).toBe(403);
    expect(await audit('token.create')).toEqual([expect.objectContaining({
      actor: 'admin', role: 'admin', target: { type: 'token', id: 'alice' }, reason: 'new reliability engineer', detail: { role: 'engineer' },
    })]);
  });

  it('lists every token with where it comes from and when it was last used, never a token or its digest', async () => {
    const { status, body } = await h.api('GET', '/api/v1/tokens');
    expect(status).toBe(200);
    expect(body.tokens.map((t: { name: string; source: string }) => `${t.name}:${t.source}`)).toEqual(['admin:generated', 'alice:api']);
    expect(body.tokens[1].lastUsed).toBe(new Date(h.clock.now()).toISOString());
    const text = JSON.stringify(body);
    for (const secret of [alice, hashToken(alice), h.adminToken, hashToken(h.adminToken)]) expect(text).not.toContain(secret);
  });

  it('refuses a name in use, a configured or reserved name, and a bad role, naming the problem', async () => {
    expect((await h.api('POST', '/api/v1/tokens', { name: 'alice', role: 'viewer' })).body.error).toMatchObject({ code: 'CONFLICT', context: { name: 'alice' } });
    expect((await h.api('POST', '/api/v1/tokens', { name: 'admin', role: 'viewer' })).body.error.message).toBe('the name admin is taken by the generated token');
    expect((await h.api('POST', '/api/v1/tokens', { name: 'controller', role: 'viewer' })).status).toBe(409);
    const bad = await h.api('POST', '/api/v1/tokens', { name: 'x y', role: 'owner' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.context.issues.map((i: { field: string }) => i.field)).toEqual(['body.name', 'body.role']);
  });

  it('revokes: the token is refused from its next request on, a repeat changes nothing, a configured token is changed where it lives', async () => {
    const revoked = await h.api('POST', '/api/v1/tokens/alice/revoke', { reason: 'left the team' });
    expect(revoked).toMatchObject({ status: 200, body: { changed: true, info: { name: 'alice', revokedBy: 'admin' } } });
    const refused = await h.api('POST', '/api/v1/rollouts', {}, alice);
    expect(refused.status).toBe(401);
    expect((await h.api('POST', '/api/v1/tokens/alice/revoke')).body.changed).toBe(false);
    expect(await audit('token.revoke')).toEqual([expect.objectContaining({ actor: 'admin', target: { type: 'token', id: 'alice' }, reason: 'left the team' })]);
    expect((await h.api('POST', '/api/v1/tokens/nobody/revoke')).status).toBe(404);
    const own = await h.api('POST', '/api/v1/tokens/admin/revoke');
    expect(own.status).toBe(409);
    expect(own.body.error.message).toMatch(/admin\.token \(a new one is generated\) and restart/);
  });

  it('pdmctl tokens create, ls and revoke; the token is printed once and works', async () => {
    const created = await ctl(['--json', 'tokens', 'create', '--name', 'pat', '--role', 'planner']);
    expect(created.code, created.err).toBe(0);
    const pat = JSON.parse(created.out).token as string;
    expect((await h.api('POST', '/api/v1/events', {}, pat)).status).toBe(400);
    expect((await h.api('POST', '/api/v1/models', {}, pat)).status).toBe(403);
    const ls = await ctl(['tokens', 'ls']);
    expect(ls.out).toMatch(/pat +│ planner +│ api/);
    expect(ls.out).toMatch(/alice +│ engineer +│ api .* by admin/);
    expect(ls.out).not.toContain(pat);
    const usage = await ctl(['tokens', 'create', '--name', 'x']);
    expect(usage).toMatchObject({ code: 2, err: expect.stringMatching(/tokens create needs --role/) });
    // the admin token read from the controller's data directory, by flag or by environment
    const adminFile = join(dir.path, ADMIN_TOKEN_FILE);
    expect((await ctl(['tokens', 'ls', '--token-file', adminFile], {})).code).toBe(0);
    expect((await ctl(['--token-file', adminFile, 'tokens', 'ls'], { PDM_TOKEN: 'not-a-known-token-0123456789abc' })).code).toBe(0);
    expect((await ctl(['tokens', 'ls'], { PDM_TOKEN_FILE: adminFile })).code).toBe(0);
    expect((await ctl(['tokens', 'ls'], { PDM_TOKEN_FILE: join(dir.path, 'missing') }))).toMatchObject({ code: 2, err: expect.stringMatching(/cannot read the token file/) });
    expect((await ctl(['tokens', 'ls'], {})).err).toMatch(/UNAUTHORIZED/);
    const revoked = await ctl(['tokens', 'revoke', 'pat', '--reason', 'done']);
    expect(revoked.out).toMatch(/changed +true/);
    expect((await h.api('POST', '/api/v1/events', {}, pat)).status).toBe(401);
  });

  it('lists the token routes in the OpenAPI document with their body schemas', async () => {
    const doc = (await h.api('GET', '/docs/json', undefined, null)).body;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/tokens', '/api/v1/tokens/{name}/revoke']));
    const create = doc.paths['/api/v1/tokens'].post;
    expect(create.tags).toEqual(['tokens']);
    expect(create.requestBody.content['application/json'].schema.properties.role.enum).toEqual(['admin', 'engineer', 'planner', 'viewer']);
    expect(doc.paths['/api/v1/tokens'].get.summary).toMatch(/never the token/);
    // what the guard asks: a token for these, none needed for an open read
    expect(create.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/tokens'].get.description).toBe('Needs a bearer token of role admin (permission tokens:manage).');
    expect(doc.paths['/api/v1/events'].post.description).toBe('Needs a bearer token of role admin, engineer, planner (permission events:record).');
    expect(doc.paths['/api/v1/devices'].get.security).toBeUndefined();
  });

  it('keeps created tokens across a restart, and never writes a token into the database or the log', async () => {
    const { body } = await h.api('POST', '/api/v1/tokens', { name: 'ci', role: 'engineer' });
    await h.tc.app.stop();
    // the database closed (WAL checkpointed into the file), the log complete
    const files = readdirSync(dir.path).filter((f) => f.startsWith('controller.db'));
    const stored = files.map((f) => readFileSync(join(dir.path, f)).toString('latin1')).join('') + JSON.stringify(h.tc.lines);
    expect(stored).toContain(hashToken(body.token));
    expect(stored).not.toContain(body.token);
    // a second controller over the same data directory (the last one is what afterAll stops)
    await h.stop();
    h = await startRolloutHarness({ dataDir: dir.path });
    expect((await h.api('GET', '/api/v1/tokens', undefined, body.token)).status).toBe(403);
    expect((await h.api('POST', '/api/v1/rollouts', {}, body.token)).status).toBe(400);
  });
});

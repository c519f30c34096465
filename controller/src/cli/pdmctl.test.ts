import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL, artifactsDir, startRolloutHarness, type RolloutHarness } from '../rollouts/testing/harness.js';
import { runPdmctl } from './run.js';

let h: RolloutHarness;
let url: string;

beforeAll(async () => {
  h = await startRolloutHarness();
  url = `http://127.0.0.1:${h.tc.app.http.port}`;
  await h.addDevice('gw-cli-1');
});
afterAll(async () => { await h.stop(); });

async function ctl(args: string[], token: string | null = h.adminToken): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const env = { PDM_URL: url, ...(token === null ? {} : { PDM_TOKEN: token }) };
  const code = await runPdmctl(args, { env, writers: { stdout: (t) => { out += t; }, stderr: (t) => { err += t; } } });
  return { code, out, err };
}

const file = (version: string, name: string) => join(artifactsDir, version, name);

describe('pdmctl', () => {
  it('publishes with a token, refuses without one, and shows the server\'s precise error', async () => {
    const denied = await ctl(['models', 'publish', file('1.0.0', 'model.onnx'), '--card', file('1.0.0', 'card.json')], null);
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/UNAUTHORIZED/);
    const ok = await ctl(['--json', 'models', 'publish', file('1.0.0', 'model.onnx'), '--card', file('1.0.0', 'card.json'), '--reason', 'reference']);
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ created: true, model: { name: MODEL, version: '1.0.0', publishedBy: 'admin' } });
    const wrong = await ctl(['models', 'publish', file('1.2.0-nan', 'model.onnx'), '--card', file('1.0.0', 'card.json'), '--version', '9.9.9']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/MODEL_CARD_INVALID: the card's version is "1.0.0" but the request says "9.9.9"/);
    await ctl(['models', 'publish', file('1.1.0-degraded', 'model.onnx'), '--card', file('1.1.0-degraded', 'card.json')]);
    const table = await ctl(['models', 'show', MODEL]);
    expect(table.out).toMatch(/1\.1\.0-degraded .* degraded/);
    expect(table.out).toMatch(/1\.0\.0 .* reference/);
  });

  it('creates, lists, shows and steers a rollout, and reads the audit log', async () => {
    const created = await ctl(['--json', 'rollouts', 'create', '--model', MODEL, '--version', '1.1.0-degraded', '--all', '--stages', '1,100%',
      '--soak', '30', '--timeout', '600', '--max-failures', '0', '--id', 'cli-one', '--reason', 'try it']);
    expect(created.code, created.err).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ created: true, rollout: { id: 'cli-one', state: 'running', stages: 2, mode: 'alert' } });
    const again = await ctl(['--json', 'rollouts', 'create', '--model', MODEL, '--version', '1.1.0-degraded', '--all', '--stages', '1,100%',
      '--soak', '30', '--timeout', '600', '--max-failures', '0', '--id', 'cli-one', '--reason', 'try it']);
    expect(JSON.parse(again.out)).toMatchObject({ created: false, rollout: { id: 'cli-one' } });
    const list = JSON.parse((await ctl(['rollouts', 'ls', '--json'])).out);
    expect(list.rollouts.map((r: { id: string }) => r.id)).toEqual(['cli-one']);
    expect((await ctl(['rollouts', 'abort', 'cli-one'])).err).toMatch(/REQUEST_INVALID: body.reason: abort by hand needs a reason/);
    await h.until('stage 1 started', () => h.devices.get('gw-cli-1')!.deploys.length === 1);
    const paused = await ctl(['rollouts', 'pause', 'cli-one', '--reason', 'shift change']);
    expect(paused.out).toMatch(/state +paused/);
    const shown = await ctl(['rollouts', 'show', 'cli-one']);
    expect(shown.out).toMatch(/gate +│ status/);
    expect(shown.out).toMatch(/gw-cli-1/);
    const audit = JSON.parse((await ctl(['audit', 'ls', '--json', '--target-id', 'cli-one'])).out);
    expect(audit.entries.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['rollout.pause', 'rollout.create']));
    expect(audit.entries.find((e: { action: string }) => e.action === 'rollout.pause')).toMatchObject({ actor: 'admin', reason: 'shift change' });
  });

  it('says what is wrong with its own usage (exit 2) and lists groups', async () => {
    expect((await ctl(['nope'])).code).toBe(2);
    expect((await ctl(['models', 'publish', '--bogus'])).code).toBe(2);
    const help = await ctl(['--help']);
    expect(help.code).toBe(0);
    for (const group of ['models', 'rollouts', 'trust', 'audit']) expect(help.out).toContain(`  ${group}`);
    const trust = JSON.parse((await ctl(['trust', 'show', '--json'])).out);
    expect(trust).toMatchObject({ version: 1, threshold: 1, keys: [{ keyid: h.tc.app.fleet.keys.keyid }] });
  });
});

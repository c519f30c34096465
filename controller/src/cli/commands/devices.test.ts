/** pdmctl devices against a whole controller on free ports (real HTTP, SQLite, broker with device credentials). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_FILE } from '../../auth/tokens.js';
import { startTestController, type TestController } from '../../testing/harness.js';
import { runCaptured } from '../../testing/pdmctl.js';

let c: TestController;
let env: Record<string, string>;

beforeAll(async () => {
  c = await startTestController({ flags: { deviceAuth: 'credentials' } });
  env = { PDM_URL: `http://127.0.0.1:${c.app.http.port}`, PDM_TOKEN: readFileSync(join(c.config.dataDir, ADMIN_TOKEN_FILE), 'utf8').trim() };
});
afterAll(async () => {
  await c?.stop();
});

const ctl = (args: string[]) => runCaptured(args, env);

describe('pdmctl devices', () => {
  it('enrolls with --json for scripts: the password logs the device in', async () => {
    const res = await ctl(['devices', 'enroll', 'gw-cli', '--asset', 'machine-7', '--class', 'pump', '--site', 'plant-a', '--tag', 'line-1', '--json']);
    expect(res.code, res.err).toBe(0);
    const issued = JSON.parse(res.out) as { password: string; agentConfig: { deviceId: string; link: { passwordFile: string } }; device: { tags: string[] } };
    expect(issued.agentConfig.deviceId).toBe('gw-cli');
    expect(issued.device.tags).toEqual(['line-1']);
    const client = await connectAsync(c.mqttUrl, { clientId: 'gw-cli', username: 'gw-cli', password: issued.password, reconnectPeriod: 0 });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it('prints the agent config and the password once for people, lists without secrets, and revokes', async () => {
    const enrolled = await ctl(['devices', 'enroll', 'gw-cli-2', '--asset', 'machine-8', '--class', 'pump', '--site', 'plant-b']);
    expect(enrolled.code, enrolled.err).toBe(0);
    const lines = enrolled.out.trimEnd().split('\n');
    const password = lines[lines.length - 1]!;
    expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(enrolled.out).toContain('"passwordFile": "/etc/pdm-agent/mqtt.password"');
    const listed = await ctl(['devices', 'ls']);
    expect(listed.out).toMatch(/gw-cli-2 .*machine-8 .*pump .*plant-b .*active/);
    expect(listed.out).not.toContain(password);
    const missing = await ctl(['devices', 'enroll', 'gw-cli-3', '--asset', 'a', '--class', 'c']);
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('--site');
    const revoked = await ctl(['devices', 'revoke', 'gw-cli-2', '--reason', 'test']);
    expect(revoked.code, revoked.err).toBe(0);
    expect(revoked.out).toMatch(/state +revoked/);
    expect((await ctl(['devices', 'ls', '--state', 'revoked', '--json'])).out).toContain('"deviceId":"gw-cli-2"');
  });
});

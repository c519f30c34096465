/**
 * Enrollment through the HTTP API of a whole controller (device credentials on): the password is
 * answered once and stored only as a hash, re-issue and revoke take effect on the broker at once, and
 * every change is audited with the token that made it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestController, type TestController } from '../testing/harness.js';
import { onceWithin } from '../testing/device-client.js';

let tc: TestController;
let token: string;

beforeAll(async () => {
  tc = await startTestController({ flags: { deviceAuth: 'credentials' } });
  token = readFileSync(join(tc.config.dataDir, 'admin.token'), 'utf8').trim();
});
afterAll(async () => {
  await tc.stop();
});

async function call(method: 'GET' | 'POST', url: string, body?: unknown, auth = true): Promise<{ status: number; json: any }> {
  const res = await tc.app.http.app.inject({
    method, url, headers: auth ? { authorization: `Bearer ${token}` } : {}, ...(body === undefined ? {} : { payload: body as object }),
  });
  return { status: res.statusCode, json: res.json() };
}

const connect = (deviceId: string, password: string) =>
  connectAsync(tc.mqttUrl, { clientId: deviceId, username: deviceId, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000 });
const refusal = (deviceId: string, password: string) => connect(deviceId, password).then(
  async (c) => { await c.endAsync(true); return undefined; },
  (err: { code?: number }) => err.code,
);

describe('device enrollment API', () => {
  it('enrolls a device: password once, the agent config with the trusted keys, only a hash stored', async () => {
    expect((await call('POST', '/api/v1/devices/gw-1/enroll', { assetId: 'm-1', assetClass: 'pump', site: 'plant-a' }, false)).status).toBe(401);
    const res = await call('POST', '/api/v1/devices/gw-1/enroll', { assetId: 'm-1', assetClass: 'pump', site: 'plant-a', tags: ['line-2', 'canary', 'canary'], reason: 'new pump' });
    expect(res.status).toBe(201);
    const { password, agentConfig, device } = res.json as { password: string; agentConfig: any; device: any };
    expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(device).toMatchObject({ deviceId: 'gw-1', assetId: 'm-1', assetClass: 'pump', site: 'plant-a', tags: ['canary', 'line-2'], state: 'active', generation: 1 });
    const trust = (await call('GET', '/api/v1/trust')).json.keySet;
    expect(agentConfig).toEqual({
      deviceId: 'gw-1', assetId: 'm-1', assetClass: 'pump', site: 'plant-a', brokerUrl: tc.mqttUrl,
      link: { passwordFile: '/etc/pdm-agent/mqtt.password' },
      trust: { keys: trust.keys, threshold: trust.threshold, version: trust.version },
    });

    const stored = tc.app.database.handle.prepare('SELECT secret_hash FROM device_credentials WHERE device_id = ?').pluck().get('gw-1') as string;
    expect(stored).toMatch(/^scrypt\$4096\$8\$1\$/);
    expect(stored).not.toContain(password);
    const listed = await call('GET', '/api/v1/enrollments');
    expect(listed.json.devices).toHaveLength(1);
    expect(JSON.stringify(listed.json)).not.toMatch(/password|secret|scrypt/);
    expect((await call('GET', '/api/v1/enrollments?tag=canary')).json.count).toBe(1);
    expect((await call('GET', '/api/v1/enrollments?tag=other')).json.count).toBe(0);

    const c = await connect('gw-1', password);
    expect(c.connected).toBe(true);
    await c.endAsync();
    expect((await call('POST', '/api/v1/devices/gw-1/enroll', { assetId: 'm-1', assetClass: 'pump', site: 'plant-a' })).status).toBe(409);
    expect((await call('POST', '/api/v1/devices/bad%2Fid/enroll', { assetId: 'm', assetClass: 'pump', site: 's' })).status).toBe(400);
  });

  it('re-issues and revokes: the old password stops at once and a connected device is dropped', async () => {
    const first = (await call('POST', '/api/v1/devices/gw-2/enroll', { assetId: 'm-2', assetClass: 'pump', site: 'plant-a' })).json.password as string;
    const c = await connect('gw-2', first);
    const dropped = onceWithin(c, 'close', 3000);
    const reissued = await call('POST', '/api/v1/devices/gw-2/reissue', { reason: 'laptop lost' });
    expect(reissued.status).toBe(200);
    expect(reissued.json.device.generation).toBe(2);
    await dropped;
    expect(await refusal('gw-2', first)).toBe(4);
    const second = reissued.json.password as string;
    expect(second).not.toBe(first);
    const again = await connect('gw-2', second);
    const droppedAgain = onceWithin(again, 'close', 3000);

    const revoked = await call('POST', '/api/v1/devices/gw-2/revoke', { reason: 'decommissioned' });
    expect(revoked.json.device).toMatchObject({ state: 'revoked' });
    await droppedAgain;
    expect(await refusal('gw-2', second)).toBe(4);
    expect((await call('POST', '/api/v1/devices/gw-2/reissue', {})).status).toBe(409);
    expect((await call('POST', '/api/v1/devices/gw-9/revoke', {})).status).toBe(404);
    // enrolled again after a revoke: a new generation, a new password
    const back = await call('POST', '/api/v1/devices/gw-2/enroll', { assetId: 'm-2', assetClass: 'pump', site: 'plant-b' });
    expect(back.json.device).toMatchObject({ state: 'active', generation: 3, site: 'plant-b', revokedAt: null });

    const audit = (await call('GET', '/api/v1/audit?targetType=device&targetId=gw-2')).json.entries as { action: string; actor: string; reason: string | null }[];
    expect(audit.map((e) => e.action)).toEqual(['device.enroll', 'device.revoke', 'device.reissue', 'device.enroll']);
    expect(audit.every((e) => e.actor === 'admin')).toBe(true);
    expect(audit.map((e) => e.reason)).toContain('laptop lost');
    expect(JSON.stringify(audit)).not.toContain(second);
  });
});

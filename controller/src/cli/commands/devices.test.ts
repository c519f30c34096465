/** pdmctl devices against a whole controller on free ports (real HTTP, SQLite, broker with device credentials). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { encodePayload, upTopic } from '@pdm/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_FILE } from '../../auth/tokens.js';
import * as fx from '../../testing/fixtures.js';
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

  it('shows what the devices last reported, their restart state among it: frozen, stored, or not reported', async () => {
    const publishStatus = async (deviceId: string, counters: object) => {
      const issued = JSON.parse((await ctl(['devices', 'enroll', deviceId, '--asset', 'm', '--class', 'pump', '--site', 'plant-s', '--json'])).out) as { password: string };
      const client = await connectAsync(c.mqttUrl, { clientId: deviceId, username: deviceId, password: issued.password, reconnectPeriod: 0 });
      const status = fx.status(deviceId, { site: 'plant-s', counters: { ...fx.status(deviceId).counters!, ...counters } });
      await client.publishAsync(upTopic(deviceId, 'status'), encodePayload('status', status), { qos: 1, retain: true });
      await client.endAsync();
    };
    await publishStatus('gw-s-frozen', { statesNotStored: 2, stateStoredAt: '2026-01-01T08:00:00.000Z', stateNotStoredSince: '2026-01-01T09:00:00.000Z' });
    await publishStatus('gw-s-stored', { statesNotStored: 0, stateStoredAt: '2026-01-01T10:00:00.000Z', stateNotStoredSince: null });
    await publishStatus('gw-s-older', {});
    await publishStatus('gw-s-unrecorded', { statesNotStored: 1, stateStoredAt: null, stateNotStoredSince: '2026-01-01T09:30:00.000Z' });
    await publishStatus('gw-s-new', { statesNotStored: 0, stateStoredAt: null, stateNotStoredSince: null });
    await c.settle();
    const table = await ctl(['devices', 'status', '--site', 'plant-s']);
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/gw-s-frozen .*plant-s .*FROZEN since 2026-01-01T09:00:00.000Z, stored 2026-01-01T08:00:00.000Z/);
    expect(table.out).toMatch(/gw-s-stored .*plant-s .*stored 2026-01-01T10:00:00.000Z/);
    expect(table.out).toMatch(/gw-s-older .*plant-s .* - +│/);
    expect(table.out).toMatch(/gw-s-unrecorded .*plant-s .*FROZEN since 2026-01-01T09:30:00.000Z, stored time not recorded/);
    expect(table.out).toMatch(/gw-s-new .*plant-s .*stored time not recorded/);
    const json = JSON.parse((await ctl(['devices', 'status', '--site', 'plant-s', '--json'])).out) as { devices: { deviceId: string; restartState: unknown }[] };
    expect(json.devices.map((d) => [d.deviceId, d.restartState])).toEqual([
      ['gw-s-frozen', { frozen: true, storedAt: '2026-01-01T08:00:00.000Z', notStoredSince: '2026-01-01T09:00:00.000Z', stretches: 2 }],
      ['gw-s-new', { frozen: false, storedAt: null, notStoredSince: null, stretches: 0 }],
      ['gw-s-older', null],
      ['gw-s-stored', { frozen: false, storedAt: '2026-01-01T10:00:00.000Z', notStoredSince: null, stretches: 0 }],
      ['gw-s-unrecorded', { frozen: true, storedAt: null, notStoredSince: '2026-01-01T09:30:00.000Z', stretches: 1 }],
    ]);
  });
});

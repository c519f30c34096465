import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL, startRolloutHarness, type RolloutHarness } from '../rollouts/testing/harness.js';

let h: RolloutHarness;
beforeAll(async () => {
  h = await startRolloutHarness();
  await h.publish('1.0.0');
  await h.publish('1.1.0-degraded');
});
afterAll(async () => { await h.stop(); });

describe('trust sync', () => {
  it('brings a device that missed two rotations to the current key set, in order, before it gets a manifest signed by it', async () => {
    const online = await h.addDevice('gw-t1');
    const offline = await h.addDevice('gw-t2');
    await offline.disconnect();
    for (const reason of ['first', 'second']) expect((await h.api('POST', '/api/v1/trust/rotate', { reason })).status).toBe(200);
    await h.until('the online device took both key sets', () => h.tc.app.fleet.trustSync.confirmed('gw-t1') === 3);
    expect(online.trustCommands).toEqual(['trust-keys-v2-gw-t1', 'trust-keys-v3-gw-t1']);
    expect(offline.trustCommands).toEqual([]);
    const res = await h.api('POST', '/api/v1/rollouts', { model: { name: MODEL, version: '1.1.0-degraded' }, target: { all: true }, stages: [{ percent: 100, soakSeconds: 0 }] });
    expect(res.status).toBe(201);
    await offline.connect();
    await h.until('the returning device runs the new version', () => offline.models.some((m) => m.version === '1.1.0-degraded' && m.trial !== true));
    expect(offline.trustCommands).toEqual(['trust-keys-v2-gw-t2', 'trust-keys-v3-gw-t2']);
    // the manifest verified against the key set it had just learned
    expect(offline.deploys.map((d) => d.answer)).toEqual(['received']);
    expect(h.tc.app.fleet.trustSync.confirmed('gw-t2')).toBe(3);
  });
});

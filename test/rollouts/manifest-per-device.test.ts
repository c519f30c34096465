/**
 * A stage signs one manifest per device (controller/src/rollouts/device-sync.ts signEach): the deploy
 * command stays small whatever the stage's size, and the security property a stage manifest naming
 * every device had holds per device: the envelope sent to one device, replayed to another, is refused
 * there by the agent's own checks (agent/src/updates/checks.ts), while its own device accepts it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trustedKeysFrom } from '@pdm/protocol';
import { DeployRejected, checkManifest, type CheckContext } from '../../agent/src/updates/checks.js';
import { MODEL, startRolloutHarness, type RolloutHarness } from '../../controller/src/rollouts/testing/harness.js';

let h: RolloutHarness;
const ids = ['gw-a', 'gw-b', 'gw-c'];

beforeAll(async () => {
  h = await startRolloutHarness();
  await h.publish('1.0.0');
  await h.publish('1.1.0-degraded');
  for (const id of ids) await h.addDevice(id);
});
afterAll(async () => { await h.stop(); });

const context = (deviceId: string): CheckContext => ({
  trusted: trustedKeysFrom(h.tc.app.fleet.keys.keySet()),
  device: { deviceId, assetClass: 'pump', site: 'plant-a', agentVersion: '0.1.0' },
  trustedNow: Date.now(),
  highWater: () => 0,
});

describe('one signed manifest per device', () => {
  it('gives each device of a stage its own manifest, which no other device accepts', async () => {
    const res = await h.api('POST', '/api/v1/rollouts', {
      model: { name: MODEL, version: '1.1.0-degraded' }, target: { all: true }, mode: 'alert',
      stages: [{ percent: 100, soakSeconds: 0, timeoutSeconds: 600 }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await h.tick();
    await h.until('every device got its deploy command', () => ids.every((id) => h.devices.get(id)!.deploys.length > 0));
    const rows = h.tc.app.fleet.engine.repo.devices(res.body.rollout.id as string);
    expect(new Set(rows.map((r) => r.deploymentId)).size).toBe(ids.length);
    for (const row of rows) {
      const signed = h.tc.app.fleet.signer.get(row.deploymentId!)!;
      expect(signed.manifest.target).toEqual({ deviceIds: [row.deviceId] });
      const bytes = Buffer.from(JSON.stringify(signed.envelope), 'utf8');
      expect(checkManifest(bytes, context(row.deviceId)).manifest.deploymentId).toBe(row.deploymentId);
      for (const other of ids.filter((id) => id !== row.deviceId)) {
        const refusal = (() => {
          try {
            checkManifest(bytes, context(other));
            return undefined;
          } catch (err) {
            return err;
          }
        })();
        expect(refusal, `${row.deviceId}'s manifest on ${other}`).toBeInstanceOf(DeployRejected);
        expect((refusal as DeployRejected).reason).toBe('target');
      }
    }
  });
});

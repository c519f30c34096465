/**
 * Issue 3, rollouts across real processes: the built controller and 10 agent processes replaying
 * Azure PdM machines (5 hourly rows a second each), every agent trusting the controller's key set
 * file and connected through a proxy that can cut its link. Devices download over MQTT only.
 *
 * 1. A good version (the reference model republished as 1.0.1) goes through three stages (2 devices,
 *    half, all) on evidence while the link of every agent is cut and restored 5 times; an agent
 *    stopped before the rollout (in the last stage, never counted a success) runs the version once it
 *    returns.
 * 2. 1.2.0-nan (scores NaN) fails its trial on the stage-1 devices, which revert by themselves; the
 *    controller rolls the rollout back with a new manifest; the other 8 devices are never touched.
 * 3. 1.3.0-noisy (alerts on ~44% of hours) commits on the stage-1 devices, but its alert rate against
 *    the current version fails the stage gate: rolled back at stage 1, the others untouched.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RolloutFleet, activeOf, type DeviceView } from './fleet.js';

const fleet = new RolloutFleet();
const ids = Array.from({ length: 10 }, (_v, i) => `gw-${String(i + 1).padStart(2, '0')}`);
const returner = 'gw-10';
const agent = (i: number) => ({ machineId: i + 1, speed: 18_000, maxRows: 1500 });
let failed = false;

beforeAll(async () => {
  failed = true;
  await fleet.start([
    '--rollout-tick-ms', '250', '--rollout-resend-sec', '3', '--rollout-resign-sec', '20', '--command-timeout-ms', '5000',
    '--heartbeat-timeout-sec', '5', '--log-level', 'info',
  ]);
  await fleet.publish('1.0.0');
  await fleet.publish('1.0.0', '1.0.1');
  await fleet.publish('1.2.0-nan');
  await fleet.publish('1.3.0-noisy');
  await fleet.enroll(ids);
  ids.forEach((id, i) => fleet.startAgent(id, agent(i)));
  await fleet.until('every agent online running 1.0.0', async () => {
    const devices = await fleet.devices();
    return ids.every((id) => devices.get(id)?.state === 'online' && activeOf(devices.get(id))?.version === '1.0.0');
  }, 150_000);
  failed = false;
}, 180_000);

afterAll(async () => {
  await fleet.stop(failed);
  if (failed) process.stderr.write(`rollout test logs kept in ${fleet.root}\n`);
});

// a test that failed midway must not leave its rollout running into the next one
afterEach(async () => {
  const live = (await fleet.api('GET', '/api/v1/rollouts?state=running')).body.rollouts as { id: string }[];
  const paused = (await fleet.api('GET', '/api/v1/rollouts?state=paused')).body.rollouts as { id: string }[];
  for (const r of [...live, ...paused]) await fleet.api('POST', `/api/v1/rollouts/${r.id}/abort`, { reason: 'test cleanup' });
});

const runs = (d: DeviceView | undefined, version: string) => {
  const a = activeOf(d);
  return a?.version === version && a.trial !== true;
};

async function create(body: Record<string, unknown>): Promise<string> {
  const res = await fleet.api('POST', '/api/v1/rollouts', { target: { all: true }, mode: 'alert', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.rollout.id as string;
}

/** Every deployment record a device sent for this rollout's manifests. */
async function deploymentsOf(deviceId: string, rolloutId: string): Promise<string[]> {
  const body = (await fleet.api('GET', `/api/v1/devices/${deviceId}?deployments=1000`)).body;
  return (body.deployments as { deploymentId: string; status: string }[]).filter((d) => d.deploymentId.startsWith(`${rolloutId}-`)).map((d) => d.status);
}

describe('rollouts across real agent processes', () => {
  it('promotes a good version through 3 stages while the link drops 5 times; a device offline meanwhile catches up when it returns', async () => {
    try {
      await fleet.stopAgent(returner);
      await fleet.until(`${returner} offline`, async () => (await fleet.devices()).get(returner)?.state === 'offline');
      const gates = { maxFailures: 0, maxInferenceErrorRate: 0.01, minSamples: 20 };
      const id = await create({
        model: { name: 'azure-pdm-failure-24h', version: '1.0.1' },
        reason: 'republished reference model',
        stages: [
          { count: 2, soakSeconds: 4, timeoutSeconds: 120, gates },
          { percent: 50, soakSeconds: 4, timeoutSeconds: 120, gates },
          // the offline device is in the last stage: 9 of 10 is enough evidence; it is never counted as a success
          { percent: 100, soakSeconds: 4, timeoutSeconds: 120, gates: { ...gates, minActivationRate: 0.9 } },
        ],
      });
      // five outages of 1.5 s, 3 s apart, while the stages run
      const dropTimes: number[] = [];
      const drops = (async () => {
        for (let i = 0; i < 5; i++) {
          await new Promise((r) => setTimeout(r, 1500));
          fleet.proxy.drop(1500);
          dropTimes.push(Date.now());
        }
      })();
      const done = await fleet.until('rollout completed', async () => {
        const r = await fleet.rollout(id);
        if (r.state === 'rolled-back' || r.state === 'paused') expect.fail(`rollout ${r.state}: ${r.reason}`);
        return r.state === 'completed' ? r : undefined;
      }, 150_000);
      await drops;
      const completedAt = Date.parse(done.updatedAt);
      expect(fleet.proxy.drops).toBe(5);
      expect(Math.max(...dropTimes)).toBeLessThan(completedAt);
      expect(done.stageHistory.map((s: { outcome: string }) => s.outcome)).toEqual(['passed', 'passed', 'passed']);
      const stageOf = new Map<string, number>(done.deviceList.map((d: { deviceId: string; stage: number }) => [d.deviceId, d.stage]));
      expect([...stageOf.values()].filter((s) => s === 1)).toHaveLength(2);
      expect([...stageOf.values()].filter((s) => s <= 2)).toHaveLength(5);
      expect(stageOf.get(returner)).toBe(3);
      await fleet.until('every online device runs 1.0.1', async () => {
        const devices = await fleet.devices();
        return ids.filter((d) => d !== returner).every((d) => runs(devices.get(d), '1.0.1'));
      });
      expect(runs((await fleet.devices()).get(returner), '1.0.0')).toBe(true);

      fleet.startAgent(returner, agent(9));
      await fleet.until(`${returner} runs 1.0.1 after it returned`, async () => runs((await fleet.devices()).get(returner), '1.0.1'), 60_000);
      // the status saying it runs 1.0.1 and the deployment record saying committed travel separately
      await fleet.until(`${returner}'s committed deployment status stored`, async () => (await deploymentsOf(returner, id)).includes('committed'), 30_000);
    } catch (err) {
      failed = true;
      throw err;
    }
  }, 240_000);

  for (const [version, gate, why] of [
    // the stage fails at the first device that reports failed:*, so one or both canaries may have reported by then
    ['1.2.0-nan', { maxFailures: 0 }, /stage 1 failed: failures [12] vs 0 .*failed:non-finite/],
    ['1.3.0-noisy', { maxFailures: 0, maxAlertRateRatio: 3, minSamples: 40 }, /stage 1 failed: alert-rate \d+(\.\d+)? vs 3/],
  ] as const) {
    it(`rolls back ${version} at stage 1 by itself, leaving the untargeted devices untouched`, async () => {
      try {
        const before = await fleet.devices();
        const id = await create({
          model: { name: 'azure-pdm-failure-24h', version },
          stages: [{ count: 2, soakSeconds: 60, timeoutSeconds: 120, gates: gate }, { percent: 100, soakSeconds: 5, timeoutSeconds: 120 }],
        });
        const r = await fleet.until(`${version} rolled back`, async () => {
          const x = await fleet.rollout(id);
          if (x.state === 'completed' || x.stage > 1) expect.fail(`${version} went past stage 1`);
          return x.state === 'rolled-back' ? x : undefined;
        }, 90_000);
        expect(r.reason).toMatch(why);
        const canaries: string[] = r.deviceList.filter((d: { want: string }) => d.want === 'baseline').map((d: { deviceId: string }) => d.deviceId);
        expect(canaries).toHaveLength(2);
        // the canaries run 1.0.1 again, from a rollback manifest with a higher release than the bad one
        await fleet.until('canaries back on 1.0.1', async () => {
          const devices = await fleet.devices();
          return canaries.every((c) => runs(devices.get(c), '1.0.1') && (activeOf(devices.get(c))!.release ?? 0) > (activeOf(before.get(c))!.release ?? 0));
        });
        // the rollback's committed record travels through the outbox, apart from the status that shows 1.0.1
        for (const c of canaries) {
          await fleet.until(`${c} reported the rollback committed`, async () => (await deploymentsOf(c, id)).includes('committed'));
          expect(await deploymentsOf(c, id)).toEqual(expect.arrayContaining(['received', 'committed']));
        }
        const after = await fleet.devices();
        for (const other of ids.filter((d) => !canaries.includes(d))) {
          expect(activeOf(after.get(other)), other).toEqual(activeOf(before.get(other)));
          expect(await deploymentsOf(other, id), other).toEqual([]);
        }
      } catch (err) {
        failed = true;
        throw err;
      }
    }, 120_000);
  }
});

/**
 * Two whole controllers on one database file (each with its embedded broker, as two processes would
 * be): only the leader times devices out and asks devices for reports; the follower still ingests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectDevice, type TestDevice } from '../testing/device-client.js';
import * as fx from '../testing/fixtures.js';
import { startTestController, type TestController } from '../testing/harness.js';
import { tempDir } from '../testing/temp-dir.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('singleton work in a cluster of two controllers', () => {
  it('runs presence timeouts and report rounds on the leader only', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const start = async () => {
      const tc = await startTestController({ dataDir: dir.path, flags: { heartbeatTimeoutSec: '1' } });
      cleanups.push(() => tc.stop());
      return tc;
    };
    const leader = await start();
    const follower = await start();
    expect([leader.app.cluster.isLeader, follower.app.cluster.isLeader]).toEqual([true, false]);
    const msgs = (tc: TestController) => tc.lines.map((l) => l.msg);
    expect(msgs(leader)).toContain('state reports requested');
    expect(msgs(follower)).not.toContain('state reports requested');

    // the device talks to the follower only; its records and status land in the shared database
    const device: TestDevice = await connectDevice(follower.mqttUrl, 'gw-silent', { withWill: false });
    cleanups.push(() => device.end());
    await device.publish('status', fx.status('gw-silent', { lastSeq: 1 }));
    await device.publish('predictions', fx.predictions('gw-silent', 1));
    await follower.settle();
    expect(leader.app.database.handle.prepare("SELECT state FROM devices WHERE device_id = 'gw-silent'").pluck().get()).toBe('online');

    // then it goes silent: the leader, which never heard from it, times it out; the follower does not
    await expect.poll(() => leader.app.database.handle.prepare("SELECT state || ':' || state_reason FROM devices WHERE device_id = 'gw-silent'").pluck().get(),
      { timeout: 5000, interval: 100 }).toBe('offline:timeout');
    const offline = (tc: TestController) => tc.lines.filter((l) => l.msg === 'device offline' && l['deviceId'] === 'gw-silent');
    expect(offline(leader)).toHaveLength(1);
    expect(offline(follower)).toHaveLength(0);
  });
});

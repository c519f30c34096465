import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONTROLLER_CLIENT_ID } from '../broker/embedded-broker.js';
import { ReconcileRepo } from '../db/reconcile-repo.js';
import { connectDevice, onceWithin, type TestDevice } from '../testing/device-client.js';
import * as fx from '../testing/fixtures.js';
import { startTestController, type TestController } from '../testing/harness.js';
import { compareModels } from './diff.js';

const v1 = { name: 'm', version: '1.0.0', role: 'active' as const };
const v2 = { name: 'm', version: '2.0.0', role: 'active' as const };
const s2 = { name: 'm', version: '2.0.0', role: 'shadow' as const };

describe('compareModels', () => {
  it('is unmanaged without a desired state, in sync when equal, drift otherwise', () => {
    expect(compareModels(undefined, [v1])).toEqual({ status: 'unmanaged', desired: null, missing: [], unexpected: [] });
    expect(compareModels([v1, s2], [s2, v1])).toMatchObject({ status: 'in-sync', missing: [], unexpected: [] });
    expect(compareModels([v2], [v1])).toEqual({ status: 'drift', desired: [v2], missing: [v2], unexpected: [v1] });
    // the same version in another role is a different thing to run
    expect(compareModels([v2], [s2])).toMatchObject({ status: 'drift', missing: [v2], unexpected: [s2] });
    expect(compareModels([], [])).toMatchObject({ status: 'in-sync' });
  });
});

describe('Reconciler', () => {
  let tc: TestController;
  let devices: TestDevice[] = [];
  beforeEach(async () => { tc = await startTestController(); });
  afterEach(async () => {
    for (const d of devices) await d.end();
    devices = [];
    await tc.stop();
  });

  const deviceView = async (id: string) => (await tc.app.http.app.inject({ url: `/api/v1/devices/${id}` })).json().device;

  it('records on every online status how reported differs from desired, logging changes only', async () => {
    const d = await connectDevice(tc.mqttUrl, 'gw-r1', { withWill: false });
    devices.push(d);
    await d.publish('status', fx.status('gw-r1', { models: [v1] }));
    await tc.settle();
    expect((await deviceView('gw-r1')).reconcile).toMatchObject({ status: 'unmanaged', desired: null });

    new ReconcileRepo(tc.app.database.handle).setDesired('gw-r1', [v2], 'test', Date.now());
    await d.publish('status', fx.status('gw-r1', { models: [v1] }));
    await d.publish('status', fx.status('gw-r1', { models: [v1] }));
    await tc.settle();
    expect((await deviceView('gw-r1')).reconcile).toMatchObject({ status: 'drift', desired: [v2], missing: [v2], unexpected: [v1] });
    expect(tc.lines.filter((l) => l.msg === 'device differs from desired state')).toHaveLength(1);

    await d.publish('status', fx.status('gw-r1', { models: [v2] }));
    await tc.settle();
    expect((await deviceView('gw-r1')).reconcile).toMatchObject({ status: 'in-sync', missing: [], unexpected: [] });
  });

  it('asks every known device to report its state when its own link reconnects', async () => {
    const a = await connectDevice(tc.mqttUrl, 'gw-r2', { withWill: false, answer: true });
    const b = await connectDevice(tc.mqttUrl, 'gw-r3', { withWill: false, answer: true });
    devices.push(a, b);
    await a.publish('status', fx.status('gw-r2'));
    await b.publish('status', fx.status('gw-r3'));
    await tc.settle();

    const gotA = onceWithin(a.client, 'message', 5000);
    const gotB = onceWithin(b.client, 'message', 5000);
    expect(await tc.app.broker.disconnect(CONTROLLER_CLIENT_ID)).toBe(true);
    await Promise.all([gotA, gotB]);
    for (const d of [a, b]) expect(d.commands.map((c) => c.type)).toEqual(['report-state']);
    expect(a.commands[0]!.id).not.toBe(b.commands[0]!.id);
    const round = await tc.app.reconciler.lastRound!;
    expect(round).toEqual({ asked: 2, replied: 2, failed: {} });
  });
});

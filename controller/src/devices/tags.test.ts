/** Enrollment tags as rollout targets: the fleet view joins them, the target selector matches any. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CONTROLLER_ACTOR } from '../auth/roles.js';
import { rolloutTargetSchema } from '../rollouts/spec.js';
import { FleetQuery, matchesTarget } from '../rollouts/targeting.js';
import { connectDevice, type TestDevice } from '../testing/device-client.js';
import * as fx from '../testing/fixtures.js';
import { startTestController, type TestController } from '../testing/harness.js';

let tc: TestController;
const devices: TestDevice[] = [];

beforeAll(async () => {
  tc = await startTestController();
  await tc.app.enrollment.enroll('gw-t1', { assetId: 'm-1', assetClass: 'pump', site: 'plant-a', tags: ['line-2', 'canary'] }, CONTROLLER_ACTOR);
  await tc.app.enrollment.enroll('gw-t2', { assetId: 'm-2', assetClass: 'pump', site: 'plant-a', tags: ['line-3'] }, CONTROLLER_ACTOR);
  for (const id of ['gw-t1', 'gw-t2', 'gw-t3']) {
    const d = await connectDevice(tc.mqttUrl, id, { withWill: false });
    devices.push(d);
    await d.publish('status', fx.status(id, { assetId: `m-${id}` }));
  }
  await tc.settle();
});
afterAll(async () => {
  for (const d of devices) await d.end();
  await tc.stop();
});

it('targets the devices enrolled with any of the named tags, and with every other field named', () => {
  const fleet = new FleetQuery(tc.app.database.handle).all();
  expect(fleet.map((d) => [d.deviceId, d.tags])).toEqual([['gw-t1', ['canary', 'line-2']], ['gw-t2', ['line-3']], ['gw-t3', []]]);
  const pick = (target: unknown) => fleet.filter((d) => matchesTarget(rolloutTargetSchema.parse(target), d)).map((d) => d.deviceId);
  expect(pick({ tags: ['line-2'] })).toEqual(['gw-t1']);
  expect(pick({ tags: ['line-2', 'line-3'] })).toEqual(['gw-t1', 'gw-t2']);
  expect(pick({ tags: ['line-3'], sites: ['plant-b'] })).toEqual([]);
  expect(pick({ tags: ['nowhere'] })).toEqual([]);
  expect(rolloutTargetSchema.safeParse({}).success).toBe(false);
  expect(rolloutTargetSchema.safeParse({ tags: ['no spaces'] }).success).toBe(false);
});

import { afterEach, describe, expect, it } from 'vitest';
import { encodePayload, parseTopic, upTopic } from '@pdm/protocol';
import { CONTROLLER_CLIENT_ID } from '../broker/embedded-broker.js';
import { ManualClock } from '../clock.js';
import { connectDevice, type TestDevice } from '../testing/device-client.js';
import * as fx from '../testing/fixtures.js';
import { startTestController, type TestController } from '../testing/harness.js';
import type { Transition } from './presence.js';

let tc: TestController | undefined;
let devices: TestDevice[] = [];
afterEach(async () => {
  for (const d of devices) await d.end();
  devices = [];
  await tc?.stop();
  tc = undefined;
});

function nextTransition(t: TestController, match: (t: Transition) => boolean, ms = 5000): Promise<Transition> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error('no matching transition in time')); }, ms);
    const off = t.app.presence.onTransition((tr) => {
      if (!match(tr)) return;
      clearTimeout(timer);
      off();
      resolve(tr);
    });
  });
}

const view = (t: TestController, id: string) => t.app.http.app.inject({ url: `/api/v1/devices/${id}` }).then((r) => r.json().device);

describe('presence', () => {
  it('goes online with a status and offline through the last will when the socket dies', async () => {
    tc = await startTestController();
    const d = await connectDevice(tc.mqttUrl, 'gw-1');
    devices.push(d);
    const online = nextTransition(tc, (t) => t.deviceId === 'gw-1' && t.state === 'online');
    await d.publish('status', fx.status('gw-1', { lastSeq: 12 }));
    await online;
    expect(await view(tc, 'gw-1')).toMatchObject({
      state: 'online', stateReason: null, bootId: 'boot-1', agentVersion: '0.1.0', lastSeqReported: 12,
      models: [{ name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active' }],
      counters: { outboxDepth: 3, dropped: { 'telemetry-evicted': 2 } },
    });

    const offline = nextTransition(tc, (t) => t.deviceId === 'gw-1' && t.state === 'offline');
    d.kill();
    expect(await offline).toEqual({ deviceId: 'gw-1', state: 'offline', reason: 'lost' });
    const after = await view(tc, 'gw-1');
    // the will (composed at connect) carries no models; the ones reported while online are kept
    expect(after).toMatchObject({ state: 'offline', stateReason: 'lost', lastSeqReported: 12, models: [{ version: '1.0.0' }] });
  });

  it('marks a silent device offline after the heartbeat timeout (clock moved by hand)', async () => {
    const clock = new ManualClock(Date.now());
    tc = await startTestController({ clock, flags: { heartbeatTimeoutSec: '60' } });
    const d = await connectDevice(tc.mqttUrl, 'gw-2', { withWill: false });
    devices.push(d);
    await d.publish('status', fx.status('gw-2'));
    await tc.settle();
    expect((await view(tc, 'gw-2')).state).toBe('online');

    clock.advance(59_000);
    expect(tc.app.presence.sweep()).toEqual([]);
    // a record is a sign of life too: it restarts the timeout
    await d.publishRaw(upTopic('gw-2', 'events'), encodePayload('events', fx.event('gw-2', 1)));
    await tc.settle();
    clock.advance(59_000);
    expect(tc.app.presence.sweep()).toEqual([]);

    clock.advance(1_000);
    const offline = nextTransition(tc, (t) => t.deviceId === 'gw-2');
    expect(tc.app.presence.sweep()).toEqual(['gw-2']);
    expect(await offline).toEqual({ deviceId: 'gw-2', state: 'offline', reason: 'timeout' });
    const v = await view(tc, 'gw-2');
    expect(v).toMatchObject({ state: 'offline', stateReason: 'timeout' });
    expect(Date.parse(v.lastSeenAt)).toBe(clock.now() - 60_000);

    const back = nextTransition(tc, (t) => t.deviceId === 'gw-2' && t.state === 'online');
    await d.publish('status', fx.status('gw-2'));
    await back;
  });

  it('sweeps on its own timer', async () => {
    const clock = new ManualClock(Date.now());
    tc = await startTestController({ clock, flags: { heartbeatTimeoutSec: '1' } });
    const d = await connectDevice(tc.mqttUrl, 'gw-3', { withWill: false });
    devices.push(d);
    await d.publish('status', fx.status('gw-3'));
    await tc.settle();
    const offline = nextTransition(tc, (t) => t.deviceId === 'gw-3');
    clock.advance(1_000);
    expect(await offline).toMatchObject({ state: 'offline', reason: 'timeout' });
  });

  it('takes a retained status as state but not as a sign of life', async () => {
    const clock = new ManualClock(Date.now());
    tc = await startTestController({ clock });
    await tc.app.ingest.handle({ topic: upTopic('gw-4', 'status'), parsed: parseTopic(upTopic('gw-4', 'status')), payload: encodePayload('status', fx.status('gw-4')), retain: true });
    const v = await view(tc, 'gw-4');
    expect(v).toMatchObject({ state: 'online', lastSeenAt: null, stateChangedAt: new Date(clock.now()).toISOString() });
  });

  it('does not time devices out while its own link is down, and gives them a full timeout after it is back', async () => {
    const clock = new ManualClock(Date.now());
    tc = await startTestController({ clock, flags: { heartbeatTimeoutSec: '60' } });
    const d = await connectDevice(tc.mqttUrl, 'gw-5', { withWill: false });
    devices.push(d);
    await d.publish('status', fx.status('gw-5'));
    await tc.settle();

    const back = new Promise<void>((resolve) => { const off = tc!.app.link.onConnect(() => { off(); resolve(); }); });
    await tc.app.broker.disconnect(CONTROLLER_CLIENT_ID);
    // the link notices the closed socket on its next turn of the event loop
    const deadline = Date.now() + 2000;
    while (tc.app.link.connected && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(tc.app.link.connected).toBe(false);
    clock.advance(120_000);
    expect(tc.app.presence.sweep()).toEqual([]);
    await back;
    expect(tc.app.presence.sweep()).toEqual([]);
    clock.advance(60_000);
    expect(tc.app.presence.sweep()).toEqual(['gw-5']);
  });
});

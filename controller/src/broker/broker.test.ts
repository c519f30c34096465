import { once } from 'node:events';
import { connect as tcpConnect } from 'node:net';
import { MqttClient, connectAsync } from 'mqtt';
import { WebSocket, createWebSocketStream } from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onceWithin } from '../testing/device-client.js';
import { captureLogs } from '../testing/log-capture.js';
import type { LinkMessage } from './broker-link.js';
import { CONTROLLER_CLIENT_ID, EmbeddedBroker, MAX_PACKET_BYTES } from './embedded-broker.js';
import { MqttLink } from './mqtt-link.js';

const { log } = captureLogs('silent');
let broker: EmbeddedBroker;
let link: MqttLink;
const clients: MqttClient[] = [];

beforeEach(async () => {
  broker = new EmbeddedBroker({ host: '127.0.0.1', mqttPort: 0, wsPort: 0, drainTimeoutMs: 10_000, concurrency: 100 }, log);
  await broker.start();
  link = new MqttLink({ connect: () => broker.linkOptions(), reconnectPeriodMs: 100 }, log);
  await link.start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  await link.stop();
  await broker.stop();
});

const mqttUrl = () => `mqtt://127.0.0.1:${broker.ports!.mqtt}`;
async function device(clientId: string, url = mqttUrl(), extra: object = {}): Promise<MqttClient> {
  const c = await connectAsync(url, { clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, ...extra });
  clients.push(c);
  return c;
}
async function refusal(clientId: string, extra: object = {}): Promise<number | undefined> {
  const err = await device(clientId, mqttUrl(), extra).then(() => undefined, (e: { code?: number }) => e);
  expect(err, `${clientId} should be refused`).toBeDefined();
  return err!.code;
}
/**
 * An mqtt.js client over a real WebSocket. Built by hand: under vitest's resolve conditions mqtt.js's
 * own `require('ws')` gets ws's ESM wrapper, whose default export lacks createWebSocketStream.
 */
async function wsDevice(clientId: string): Promise<MqttClient> {
  const url = `ws://127.0.0.1:${broker.ports!.ws}/mqtt`;
  const c = new MqttClient(() => createWebSocketStream(new WebSocket(url, 'mqtt')), { clientId, protocolVersion: 4, reconnectPeriod: 0 });
  clients.push(c);
  await onceWithin(c, 'connect', 3000);
  return c;
}

function collect(): LinkMessage[] {
  const got: LinkMessage[] = [];
  link.setHandler((m) => { got.push(m); });
  return got;
}

describe('EmbeddedBroker', () => {
  it('refuses devices with "server unavailable" until it is opened, and after it is closed to them', async () => {
    expect(await refusal('gw-early')).toBe(3);
    broker.openToDevices();
    const d = await device('gw-1');
    expect(d.connected).toBe(true);
    const closed = new Promise<void>((resolve) => d.once('close', () => resolve()));
    await broker.closeToDevices();
    await closed;
    expect(link.connected).toBe(true);
    expect(await refusal('gw-late')).toBe(3);
  });

  it('reserves the controller client id for the controller link', async () => {
    broker.openToDevices();
    expect(await refusal(CONTROLLER_CLIENT_ID)).toBe(5);
    expect(await refusal(CONTROLLER_CLIENT_ID, { username: CONTROLLER_CLIENT_ID, password: 'guess' })).toBe(5);
    expect(link.connected).toBe(true);
  });

  it('closes a connection whose packet announces more than the largest pdm payload, and keeps serving', async () => {
    broker.openToDevices();
    const socket = tcpConnect(broker.ports!.mqtt, '127.0.0.1');
    await once(socket, 'connect');
    // a PUBLISH announcing a remaining length of about 200 MB
    socket.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x5f]));
    await once(socket, 'close', { signal: AbortSignal.timeout(3000) });
    expect(MAX_PACKET_BYTES).toBeLessThan(1024 * 1024);
    const d = await device('gw-after');
    expect(d.connected).toBe(true);
  });

  it('accepts 64-character device ids over TCP and over WebSocket', async () => {
    broker.openToDevices();
    const got = collect();
    await link.subscribe(['pdm/v1/+/up/events'], 1);
    const longId = `d${'x'.repeat(63)}`;
    const tcp = await device(longId);
    const ws = await wsDevice('gw-ws');
    await tcp.publishAsync(`pdm/v1/${longId}/up/events`, 'a', { qos: 1 });
    await ws.publishAsync('pdm/v1/gw-ws/up/events', 'b', { qos: 1 });
    await link.flush(2000);
    expect(got.map((m) => m.payload.toString()).sort()).toEqual(['a', 'b']);
  });
});

describe('MqttLink', () => {
  it('holds messages that arrive before a handler is set, then delivers them in order', async () => {
    broker.openToDevices();
    await link.subscribe(['t/+'], 1);
    const d = await device('gw-2');
    for (const n of [1, 2, 3]) await d.publishAsync(`t/${n}`, String(n), { qos: 1 });
    const got = collect();
    await link.flush(2000);
    expect(got.map((m) => m.topic)).toEqual(['t/1', 't/2', 't/3']);
  });

  it('does not acknowledge a message its handler failed on: the broker delivers it again', async () => {
    broker.openToDevices();
    await link.subscribe(['t/+'], 1);
    let failures = 1;
    const handled: string[] = [];
    link.setHandler((m) => {
      if (m.topic === 't/poison' && failures > 0) {
        failures -= 1;
        throw new Error('disk full (simulated)');
      }
      handled.push(m.topic);
    });
    const reconnected = new Promise<void>((resolve) => { const off = link.onConnect(() => { off(); resolve(); }); });
    const d = await device('gw-3');
    await d.publishAsync('t/poison', 'x', { qos: 1 });
    await reconnected;
    await link.flush(3000);
    expect(handled).toContain('t/poison');
  });

  it('flush waits for everything queued before it, and times out when the broker is gone', async () => {
    broker.openToDevices();
    await link.subscribe(['t/+'], 1);
    const got = collect();
    const d = await device('gw-4');
    await Promise.all(Array.from({ length: 200 }, (_v, i) => d.publishAsync(`t/${i}`, 'x', { qos: 1 })));
    await link.flush(3000);
    expect(got).toHaveLength(200);
    await broker.stop();
    await expect(link.flush(200)).rejects.toMatchObject({ code: 'LINK_FAILED' });
  });
});

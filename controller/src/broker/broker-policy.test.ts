/**
 * The embedded broker's ACL matrix with device credentials on: real aedes over TCP, real mqtt.js
 * clients, the real device registry (SQLite in a temp dir) behind the authenticate hook.
 */
import { connect as tcpConnect } from 'node:net';
import { once } from 'node:events';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downTopic, upTopic, type KeySet } from '@pdm/protocol';
import { AuditLog } from '../audit/audit-log.js';
import { CONTROLLER_ACTOR } from '../auth/roles.js';
import { systemClock } from '../clock.js';
import type { Database } from '../db/database.js';
import { DeviceEnrollment } from '../devices/enrollment.js';
import { onceWithin } from '../testing/device-client.js';
import { captureLogs } from '../testing/log-capture.js';
import { testDatabase } from '../testing/test-database.js';
import type { LinkMessage } from './broker-link.js';
import { CONTROLLER_CLIENT_ID, EmbeddedBroker } from './embedded-broker.js';
import { MqttLink } from './mqtt-link.js';

const KEY_SET: KeySet = {
  schemaVersion: 1, version: 1, threshold: 1, created: '2026-01-01T00:00:00.000Z',
  keys: [{ keyid: '0123456789abcdef0123456789abcdef', publicKeyPem: '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----' }],
};
const RATE = 50;
const BURST = 20;
const MAX_DEVICES = 4;

const { log, lines } = captureLogs('debug');
let database: Database;
let enrollment: DeviceEnrollment;
let broker: EmbeddedBroker;
let link: MqttLink;
let got: LinkMessage[];
const clients: MqttClient[] = [];
const passwords = new Map<string, string>();

beforeEach(async () => {
  // the previous test's database closes after its afterEach (onTestFinished) and logs: start each test's lines here
  lines.length = 0;
  database = await testDatabase({ log });
  enrollment = new DeviceEnrollment(() => ({ brokerUrl: 'mqtt://127.0.0.1:1883', passwordFile: '/etc/pdm-agent/mqtt.password' }), {
    database, audit: new AuditLog(database, systemClock), sessions: { disconnect: (id) => broker.disconnect(id) },
    keySet: () => KEY_SET, clock: systemClock, log,
  });
  broker = new EmbeddedBroker({
    host: '127.0.0.1', mqttPort: 0, wsPort: 0, drainTimeoutMs: 10_000, concurrency: 100,
    deviceAuth: 'credentials', maxConnections: MAX_DEVICES, limits: { ratePerSecond: RATE, burst: BURST },
  }, log, enrollment);
  await broker.start();
  link = new MqttLink({ connect: () => broker.linkOptions(), reconnectPeriodMs: 100 }, log);
  await link.start();
  got = [];
  link.setHandler((m) => { got.push(m); });
  await link.subscribe(['pdm/v1/+/up/+'], 1);
  broker.openToDevices();
  for (const id of ['gw-a', 'gw-b', 'gw-flood']) {
    passwords.set(id, (await enrollment.enroll(id, { assetId: `m-${id}`, assetClass: 'pump', site: 'plant-a' }, CONTROLLER_ACTOR)).password);
  }
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  await link.stop();
  await broker.stop();
});

const url = () => `mqtt://127.0.0.1:${broker.ports!.mqtt}`;
const login = (id: string, password = passwords.get(id)): IClientOptions => ({ clientId: id, username: id, password });

async function device(options: IClientOptions): Promise<MqttClient> {
  const c = await connectAsync(url(), { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, ...options });
  clients.push(c);
  return c;
}

/** The CONNACK return code of a refused connection. */
async function refusedWith(options: IClientOptions): Promise<number | undefined> {
  const err = await device(options).then(() => undefined, (e: { code?: number }) => e);
  expect(err, `${String(options.clientId)} should be refused`).toBeDefined();
  return err!.code;
}

const refused = () => broker.stats()!.refused;
const payloads = () => got.map((m) => m.payload.toString());

describe('who may connect', () => {
  it('lets an enrolled device in with its own password only', async () => {
    expect((await device(login('gw-a'))).connected).toBe(true);
    expect(await refusedWith({ clientId: 'gw-b' }), 'no credentials').toBe(5);
    expect(await refusedWith(login('gw-b', 'wrong-password')), 'wrong password').toBe(4);
    // A's own credentials, presented as B: the username must be the client id, and the password B's
    expect(await refusedWith({ clientId: 'gw-b', username: 'gw-a', password: passwords.get('gw-a') }), 'A as B').toBe(4);
    expect(await refusedWith({ clientId: 'gw-b', username: 'gw-b', password: passwords.get('gw-a') }), 'A\'s password for B').toBe(4);
    expect(await refusedWith(login('gw-unknown', 'anything')), 'not enrolled').toBe(4);
    expect(await refusedWith({ clientId: 'bad/id', username: 'bad/id', password: 'x' }), 'not a deviceId').toBe(2);
    expect(await refusedWith({ clientId: CONTROLLER_CLIENT_ID, username: CONTROLLER_CLIENT_ID, password: passwords.get('gw-a') }), 'controller id').toBe(5);
    expect(link.connected).toBe(true);
    expect(refused()).toMatchObject({ 'no-credentials': 1, 'bad-credentials': 4, 'invalid-client-id': 1, 'reserved-client-id': 1 });
    const warned = lines.filter((l) => l.msg === 'broker refused a client');
    expect(warned.map((l) => l['deviceId'])).toEqual(expect.arrayContaining(['gw-b', 'gw-unknown', CONTROLLER_CLIENT_ID]));
    expect(warned.every((l) => l.level === 40)).toBe(true);
  });

  it('disconnects a revoked device and refuses it from then on; a re-issued password replaces the old one', async () => {
    const a = await device(login('gw-a'));
    const closed = onceWithin(a, 'close', 3000);
    await enrollment.revoke('gw-a', CONTROLLER_ACTOR, 'stolen');
    await closed;
    expect(await refusedWith(login('gw-a')), 'revoked').toBe(4);

    const b = await device(login('gw-b'));
    const bClosed = onceWithin(b, 'close', 3000);
    const reissued = await enrollment.reissue('gw-b', CONTROLLER_ACTOR);
    await bClosed;
    expect(await refusedWith(login('gw-b')), 'old password').toBe(4);
    expect((await device(login('gw-b', reissued.password))).connected).toBe(true);
  });

  it('refuses devices beyond the maximum number of connections, the controller\'s link not counted', async () => {
    for (const id of ['gw-c', 'gw-d']) passwords.set(id, (await enrollment.enroll(id, { assetId: id, assetClass: 'pump', site: 's' }, CONTROLLER_ACTOR)).password);
    for (const id of ['gw-a', 'gw-b', 'gw-c', 'gw-d']) await device(login(id));
    passwords.set('gw-e', (await enrollment.enroll('gw-e', { assetId: 'e', assetClass: 'pump', site: 's' }, CONTROLLER_ACTOR)).password);
    expect(await refusedWith(login('gw-e'))).toBe(3);
    // a device taking over its own session is not one more connection
    expect((await device(login('gw-a'))).connected).toBe(true);
    expect(refused()['max-connections']).toBe(1);
  });
});

describe('what a device may publish', () => {
  it('delivers its own up topics and closes the connection of a device publishing anywhere else', async () => {
    const b = await device(login('gw-b'));
    await b.publishAsync(upTopic('gw-b', 'events'), 'own', { qos: 1 });
    for (const [topic, reason] of [
      [upTopic('gw-b', 'events'), 'publish-other-device'],
      [downTopic('gw-a', 'cmd'), 'publish-downstream-topic'],
      [downTopic('gw-b', 'cmd'), 'publish-other-device'],
      ['pdm/v1/gw-a/up/unknown-kind', 'publish-not-pdm-topic'],
      ['elsewhere', 'publish-not-pdm-topic'],
    ] as const) {
      const c = await device(login('gw-a'));
      const closed = onceWithin(c, 'close', 3000);
      c.publish(topic, 'forged', { qos: 1 });
      await closed.catch((err: unknown) => { throw new Error(`not closed after publishing on ${topic}`, { cause: err }); });
      expect(refused()[reason], topic).toBeGreaterThan(0);
    }
    await link.flush(2000);
    expect(payloads()).toEqual(['own']);
    expect(lines.some((l) => l.msg === 'broker refused a client' && l['deviceId'] === 'gw-a' && l['reason'] === 'publish-other-device')).toBe(true);
  });

  it('refuses a last will on another device\'s status topic', async () => {
    const c = await device({ ...login('gw-a'), will: { topic: upTopic('gw-b', 'status'), payload: Buffer.from('forged offline'), qos: 1, retain: true } });
    c.stream.destroy(); // no DISCONNECT: the will is due
    await onceWithin(c, 'close', 3000);
    await expect.poll(() => refused()['publish-other-device']).toBe(1);
    await link.flush(2000);
    expect(payloads()).toEqual([]);
  });
});

describe('what a device may subscribe to', () => {
  it('grants its own down topics and answers 0x80 for wildcards, other devices and up topics', async () => {
    const a = await device(login('gw-a'));
    const filters = ['pdm/v1/gw-a/down/+', downTopic('gw-a', 'cmd'), '#', 'pdm/#', 'pdm/v1/+/down/+', 'pdm/v1/gw-b/down/+',
      downTopic('gw-b', 'cmd'), 'pdm/v1/gw-a/up/+', 'pdm/v1/gw-a/#', '$SYS/#'];
    // mqtt.js rejects a SUBACK holding any failure; the packet carries every granted code
    const suback = await a.subscribeAsync(Object.fromEntries(filters.map((topic) => [topic, { qos: 1 as const }])))
      .then(() => undefined, (err: { packet?: { granted: number[] } }) => err.packet);
    expect(suback?.granted).toEqual([1, 1, 128, 128, 128, 128, 128, 128, 128, 128]);
    expect(refused()['subscribe-not-allowed']).toBe(8);

    // what the controller sends B does not reach A
    const b = await device(login('gw-b'));
    await b.subscribeAsync('pdm/v1/gw-b/down/+', { qos: 1 });
    const toB = onceWithin(b, 'message', 3000);
    const atA: string[] = [];
    a.on('message', (topic) => atA.push(topic));
    await link.publish(downTopic('gw-b', 'cmd'), Buffer.from('for b'), { qos: 1, retain: false });
    await link.publish(downTopic('gw-a', 'cmd'), Buffer.from('for a'), { qos: 1, retain: false });
    await toB;
    await expect.poll(() => atA).toEqual([downTopic('gw-a', 'cmd')]);
  });
});

describe('limits', () => {
  it('holds back a flooding device while the others keep being served, and drops nothing', async () => {
    const flood = await device(login('gw-flood'));
    const a = await device(login('gw-a'));
    const FLOOD = 400;
    for (let i = 0; i < FLOOD; i++) flood.publish(upTopic('gw-flood', 'metrics'), `f${i}`, { qos: 0 });
    await expect.poll(() => broker.stats()!.throttled, { timeout: 3000 }).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) await a.publishAsync(upTopic('gw-a', 'events'), `a${i}`, { qos: 1 });
    await expect.poll(() => payloads().filter((p) => p.startsWith('a')).length, { timeout: 3000 }).toBe(20);
    // when A's twenty were all delivered, the flood was still being held back at its rate, not served first
    const floodSoFar = payloads().filter((p) => p.startsWith('f'));
    expect(floodSoFar.length).toBeLessThan(FLOOD);
    // in order, with no gap: held, not dropped
    expect(floodSoFar).toEqual(Array.from({ length: floodSoFar.length }, (_v, i) => `f${i}`));
    expect(flood.connected).toBe(true);
    expect(lines.filter((l) => l.msg === 'device over its publish rate; holding its publishes' && l['deviceId'] === 'gw-flood')).toHaveLength(1);
  });

  it('closes a connection announcing a packet larger than any pdm payload, before reading it, and counts it', async () => {
    const socket = tcpConnect(broker.ports!.mqtt, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x5f])); // a PUBLISH announcing ~200 MB
    await once(socket, 'close', { signal: AbortSignal.timeout(3000) });
    expect(refused()['packet-too-large']).toBe(1);
    expect((await device(login('gw-a'))).connected).toBe(true);
  });
});

describe('deviceAuth "none"', () => {
  it('warns at start, then lets any client in and checks no topics (development and benchmarks)', async () => {
    const { log: openLog, lines: openLines } = captureLogs('debug');
    const open = new EmbeddedBroker({ host: '127.0.0.1', mqttPort: 0, wsPort: 0, drainTimeoutMs: 10_000, concurrency: 100, deviceAuth: 'none' }, openLog, enrollment);
    await open.start();
    try {
      open.openToDevices();
      expect(openLines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['device authentication is off: any client may connect and use any topic (development only)']);
      const c = await connectAsync(`mqtt://127.0.0.1:${open.ports!.mqtt}`, { clientId: 'anyone', protocolVersion: 4, reconnectPeriod: 0 });
      clients.push(c);
      await c.publishAsync(upTopic('gw-b', 'events'), 'x', { qos: 1 });
      expect((await c.subscribeAsync('#', { qos: 1 }))[0]!.qos).toBe(1);
      expect(open.stats()!.refused).toMatchObject({ 'publish-other-device': 0, 'subscribe-not-allowed': 0 });
    } finally {
      for (const c of clients.splice(0)) await c.endAsync(true);
      await open.stop();
    }
  });
});

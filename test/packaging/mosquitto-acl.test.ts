/**
 * The shipped Mosquitto config (deploy/mosquitto) on Debian's mosquitto 2.0, checked with mqtt.js
 * over MQTT 5 (reason codes say why something was refused): who may connect, the ACL matrix of
 * RELIABILITY.md "Who may do what", the raised max_queued_messages and persistence.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mosquitto } from './mosquitto.js';

const NOT_AUTHORIZED = 0x87;
const CONTROLLER = 'pdm-controller';

describe('deploy/mosquitto: per-device authentication and topic ACL', () => {
  let dir: string;
  let broker: Mosquitto;
  const clients: mqtt.MqttClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-mosquitto-acl-'));
    broker = await Mosquitto.prepare(join(dir, 'broker'), [CONTROLLER, 'gw-a', 'gw-b', 'gw-revoked']);
    await broker.start();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function connect(user: string | undefined, options: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
    const client = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      clientId: user ?? 'anonymous',
      ...(user === undefined ? {} : { username: user, password: 'password' in options ? options.password : broker.password(user) }),
      ...options,
    });
    clients.push(client);
    return client;
  }

  /** Resolves with the reason code mosquitto answered a QoS 1 publish with (0: accepted). */
  async function publishCode(client: mqtt.MqttClient, topic: string, payload = '{}'): Promise<number> {
    try {
      await client.publishAsync(topic, payload, { qos: 1 });
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  }

  async function subscribeCode(client: mqtt.MqttClient, filter: string): Promise<number> {
    try {
      const granted = await client.subscribeAsync(filter, { qos: 1 });
      return granted[0]!.qos;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  }

  /** Messages `client` receives, in order. */
  function inbox(client: mqtt.MqttClient): { topic: string; payload: string }[] {
    const seen: { topic: string; payload: string }[] = [];
    client.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString('utf8') }));
    return seen;
  }

  async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('listens only where configured, and refuses clients without credentials, with a wrong password or an unknown user', async () => {
    // an option written above its `listener` line opens an extra default listener on 1883
    expect(broker.listenLines()).toEqual([expect.stringContaining(`listen socket on port ${broker.port}.`)]);
    await expect(connect(undefined)).rejects.toMatchObject({ code: NOT_AUTHORIZED });
    // mosquitto 2.0 answers 0x87 where MQTT 5 also allows 0x86 "bad user name or password"
    for (const attempt of [connect('gw-a', { password: 'not-the-password' }), connect('gw-z', { password: 'anything' })]) {
      const err = await attempt.then(() => undefined, (e: unknown) => e as { code?: number });
      expect([0x86, NOT_AUTHORIZED]).toContain(err?.code);
    }
  });

  it('lets a device publish only under its own up/', async () => {
    const controller = await connect(CONTROLLER, { clientId: 'ctl-publish' });
    const upstream = inbox(controller);
    await controller.subscribeAsync('pdm/v1/+/up/#', { qos: 1 });
    const a = await connect('gw-a');

    expect(await publishCode(a, 'pdm/v1/gw-a/up/status', 'a-own')).toBe(0);
    // as another device, downstream, or outside pdm/v1: refused with "not authorized"
    expect(await publishCode(a, 'pdm/v1/gw-b/up/status', 'a-as-b')).toBe(NOT_AUTHORIZED);
    expect(await publishCode(a, 'pdm/v1/gw-a/down/cmd', 'a-down')).toBe(NOT_AUTHORIZED);
    expect(await publishCode(a, 'pdm/v1/gw-b/down/cmd', 'a-to-b')).toBe(NOT_AUTHORIZED);
    expect(await publishCode(a, 'elsewhere', 'a-elsewhere')).toBe(NOT_AUTHORIZED);
    // MQTT 3.1.1 (the agent's protocol) has no reason codes: mosquitto acknowledges and drops, so a
    // device whose user name is not its deviceId would lose records silently
    const a311 = await connect('gw-a', { protocolVersion: 4, clientId: 'gw-a' });
    expect(await publishCode(a311, 'pdm/v1/gw-b/up/status', 'a311-as-b')).toBe(0);
    expect(await publishCode(a311, 'pdm/v1/gw-a/up/alerts', 'a-last')).toBe(0);
    await until('the allowed publishes at the controller', () => upstream.some((m) => m.payload === 'a-last'));
    expect(upstream).toEqual([
      { topic: 'pdm/v1/gw-a/up/status', payload: 'a-own' },
      { topic: 'pdm/v1/gw-a/up/alerts', payload: 'a-last' },
    ]);
  });

  it('delivers a device only its own down/ traffic, whatever it subscribes to (retained messages included)', async () => {
    const controller = await connect(CONTROLLER, { clientId: 'ctl-subscribe' });
    const b = await connect('gw-b');
    await b.publishAsync('pdm/v1/gw-b/up/status', 'b-retained', { qos: 1, retain: true });
    const a = await connect('gw-a');
    const toA = inbox(a);
    // Mosquitto 2.0's acl_file grants these SUBACKs and filters each delivery by the "read" rules
    // instead (refusing the SUBSCRIBE itself takes the dynamic-security plugin): what matters is
    // that nothing arrives, which the sentinel below proves
    const granted: Record<string, number> = {};
    for (const filter of ['#', 'pdm/#', 'pdm/v1/+/down/#', 'pdm/v1/gw-b/down/cmd', 'pdm/v1/gw-b/#', 'pdm/v1/+/up/#', 'pdm/v1/gw-a/up/#', '$SYS/#']) {
      granted[filter] = await subscribeCode(a, filter);
    }
    expect(await subscribeCode(a, 'pdm/v1/gw-a/down/+')).toBe(1);
    expect(await publishCode(controller, 'pdm/v1/gw-b/down/cmd', 'for-b')).toBe(0);
    expect(await publishCode(b, 'pdm/v1/gw-b/up/alerts', 'b-live')).toBe(0);
    expect(await publishCode(a, 'pdm/v1/gw-a/up/alerts', 'a-own-up')).toBe(0);
    // the sentinel, last: whatever the broker would deliver to A arrives before it
    expect(await publishCode(controller, 'pdm/v1/gw-a/down/cmd', 'for-a')).toBe(0);
    await until('the sentinel at gw-a', () => toA.some((m) => m.payload === 'for-a'));
    // several of A's filters match its own down/ topic, and MQTT 5 delivers once per matching subscription
    expect([...new Set(toA.map((m) => `${m.topic} ${m.payload}`))]).toEqual(['pdm/v1/gw-a/down/cmd for-a']);
    expect(Object.keys(granted)).toHaveLength(8);
    await b.publishAsync('pdm/v1/gw-b/up/status', '', { qos: 1, retain: true });
  });

  it('lets the controller read every up/ (also as a shared subscription) and write every down/, and nothing else', async () => {
    const controller = await connect(CONTROLLER, { clientId: 'ctl-rights' });
    const upstream = inbox(controller);
    expect(await subscribeCode(controller, '$share/pdm/pdm/v1/+/up/status')).toBe(1);
    await controller.subscribeAsync('pdm/v1/+/down/#', { qos: 1 });
    expect(await publishCode(controller, 'pdm/v1/gw-a/up/status', 'ctl-as-a')).toBe(NOT_AUTHORIZED);

    const a = await connect('gw-a');
    const b = await connect('gw-b');
    const toA = inbox(a);
    const toB = inbox(b);
    await a.subscribeAsync('pdm/v1/gw-a/down/+', { qos: 1 });
    await b.subscribeAsync('pdm/v1/gw-b/down/+', { qos: 1 });
    expect(await publishCode(controller, 'pdm/v1/gw-a/down/cmd', 'for-a')).toBe(0);
    expect(await publishCode(controller, 'pdm/v1/gw-b/down/chunk', 'for-b')).toBe(0);
    await until('each device got its message', () => toA.length === 1 && toB.length === 1);
    expect(toA).toEqual([{ topic: 'pdm/v1/gw-a/down/cmd', payload: 'for-a' }]);
    expect(toB).toEqual([{ topic: 'pdm/v1/gw-b/down/chunk', payload: 'for-b' }]);
    // through the shared subscription, as the only member of group "pdm"
    expect(await publishCode(b, 'pdm/v1/gw-b/up/status', 'b-status')).toBe(0);
    await until('the status through $share', () => upstream.some((m) => m.payload === 'b-status'));
    // its own down/ publishes never came back through "pdm/v1/+/down/#": it may not read down/
    expect(upstream.filter((m) => m.topic.includes('/down/'))).toEqual([]);
  });

  it('takes the client id from the user name: device A claiming client id B neither kicks B nor gains its rights', async () => {
    const b = await connect('gw-b', { clientId: 'gw-b' });
    let bClosed = false;
    b.once('close', () => (bClosed = true));
    const a = await connect('gw-a', { clientId: 'gw-b' });
    // a round trip on each connection: a takeover would have closed b before these complete
    expect(await publishCode(a, 'pdm/v1/gw-b/up/status')).toBe(NOT_AUTHORIZED);
    expect(await publishCode(b, 'pdm/v1/gw-b/up/status')).toBe(0);
    expect(bClosed).toBe(false);
    expect(b.connected).toBe(true);
  });

  it('publishes a device\'s last will on its own up/status, and never a will that names another device', async () => {
    const controller = await connect(CONTROLLER, { clientId: 'ctl-wills' });
    const upstream = inbox(controller);
    await controller.subscribeAsync('pdm/v1/+/up/status', { qos: 1 });
    const a = await connect('gw-a', { will: { topic: 'pdm/v1/gw-a/up/status', payload: Buffer.from('a-lost'), qos: 1, retain: false } });
    // mosquitto 2.0 accepts the CONNECT and checks the will against the ACL when it would publish it
    const posing = await connect('gw-b', { will: { topic: 'pdm/v1/gw-a/up/status', payload: Buffer.from('b-as-a'), qos: 1, retain: false } });
    // an abrupt end (no DISCONNECT) makes the broker publish the will [MQTT-3.1.2-8]
    a.stream.destroy();
    posing.stream.destroy();
    await until('gw-a\'s will', () => upstream.some((m) => m.payload === 'a-lost'));
    // a sentinel on a new connection, after both sockets closed: a will from gw-b would be ahead of it
    const again = await connect('gw-a');
    await again.publishAsync('pdm/v1/gw-a/up/status', 'sentinel', { qos: 1 });
    await until('the sentinel', () => upstream.some((m) => m.payload === 'sentinel'));
    expect(upstream.map((m) => m.payload)).toEqual(['a-lost', 'sentinel']);
  });

  it('refuses a revoked device once its password is gone from the password file and mosquitto reloaded it', async () => {
    const password = broker.password('gw-revoked');
    await (await connect('gw-revoked')).endAsync();
    broker.revoke(['gw-revoked'], 'gw-a');
    // SIGHUP is asynchronous: the reload has happened once a new login is refused
    let code: number | undefined;
    const deadline = Date.now() + 5_000;
    while (code === undefined && Date.now() < deadline) {
      code = await connect('gw-revoked', { password }).then(async (c) => { await c.endAsync(); return undefined; }, (e: { code?: number }) => e.code ?? -1);
      if (code === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect([0x86, NOT_AUTHORIZED]).toContain(code);
    expect((await connect('gw-a')).connected).toBe(true);
  });

  it('queues more than Mosquitto\'s default 1000 messages for an offline controller session, across a broker restart', { timeout: 60_000 }, async () => {
    const count = 3_000;
    const session = { clientId: CONTROLLER, clean: false, properties: { sessionExpiryInterval: 3_600 } };
    const first = await connect(CONTROLLER, session);
    await first.subscribeAsync('pdm/v1/+/up/metrics', { qos: 1 });
    await first.endAsync();

    const a = await connect('gw-a');
    let acknowledged = 0;
    for (let i = 1; i <= count; i++) a.publish('pdm/v1/gw-a/up/metrics', String(i), { qos: 1 }, (err) => (acknowledged += err ? 0 : 1));
    await a.publishAsync('pdm/v1/gw-a/up/metrics', 'end', { qos: 1 });
    await a.endAsync();
    expect(acknowledged).toBe(count);

    // SIGTERM saves the queue (persistence true); the new process loads it
    await broker.stop();
    await broker.start();

    // the handler must be in place before CONNACK: the queue follows it in the same TCP read
    const received: string[] = [];
    const again = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 0, username: CONTROLLER, password: broker.password(CONTROLLER), ...session });
    clients.push(again);
    again.on('message', (_t, payload) => received.push(payload.toString('utf8')));
    await until('the whole queue', () => received.includes('end'), 30_000);
    expect(received).toEqual([...Array.from({ length: count }, (_, i) => String(i + 1)), 'end']);
  });
});

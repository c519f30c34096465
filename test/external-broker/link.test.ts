/**
 * The controller's link against a real external broker (Debian's Mosquitto, started here): login,
 * TLS with a client certificate, the persistent MQTT 5 session that keeps messages while the
 * controller is away, and shared subscriptions splitting the traffic between two instances.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExternalBroker, MqttLink, type ExternalBrokerOptions, type LinkMessage } from '@pdm/controller';
import { captureLogs } from '@pdm/controller/testing';
import { makeCerts, type TestCerts } from './certs.js';
import { startMosquitto, type Mosquitto } from './mosquitto.js';

const PREDICTIONS = 'pdm/v1/+/up/predictions';
const REPLIES = 'pdm/v1/+/up/reply';
const { log } = captureLogs('silent');
let dir: string;
let certs: TestCerts;
let broker: Mosquitto;
let device: MqttClient;
const links: MqttLink[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pdm-external-link-'));
  certs = makeCerts(dir);
  broker = await startMosquitto({ dir, users: { 'pdm-controller': 'right-password' }, tls: certs });
  device = await connectAsync(broker.url, { clientId: 'gw-1', protocolVersion: 4, reconnectPeriod: 0 });
});
afterEach(async () => {
  for (const link of links.splice(0)) await link.stop();
});
afterAll(async () => {
  await device?.endAsync();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startLink(over: Partial<ExternalBrokerOptions> = {}): Promise<{ link: MqttLink; got: LinkMessage[] }> {
  const host = new ExternalBroker({
    url: broker.url, clientId: 'pdm-controller', username: 'pdm-controller', password: 'right-password',
    rejectUnauthorized: true, sessionExpirySec: 300, ...over,
  }, log);
  await host.start();
  const link = new MqttLink({ connect: () => host.linkOptions(), connectTimeoutMs: 5000, reconnectPeriodMs: 200 }, log);
  await link.start();
  links.push(link);
  const got: LinkMessage[] = [];
  link.setHandler((m) => { got.push(m); });
  return { link, got };
}

const stopLink = async (link: MqttLink) => { links.splice(links.indexOf(link), 1); await link.stop(); };
const publish = (topic: string, n: number, from = 0) =>
  Promise.all(Array.from({ length: n }, (_v, i) => device.publishAsync(topic, String(from + i), { qos: 1 })));
const payloads = (got: LinkMessage[]) => got.map((m) => Number(m.payload.toString())).sort((a, b) => a - b);
const range = (from: number, n: number) => Array.from({ length: n }, (_v, i) => from + i);

describe('MqttLink against Mosquitto', () => {
  it('logs in with a username and password and receives what devices publish', async () => {
    const { link, got } = await startLink();
    await link.subscribe([PREDICTIONS], 1);
    await publish('pdm/v1/gw-1/up/predictions', 5);
    await link.flush(3000);
    expect(payloads(got)).toEqual(range(0, 5));
  });

  it('fails at once, saying why, when the broker refuses the login', async () => {
    const started = Date.now();
    const err = await startLink({ password: 'wrong-password' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LINK_FAILED', message: 'broker refused the connection' });
    // MQTT 5 CONNACK reason 0x86 bad user name or password, or 0x87 not authorized (Mosquitto's answer)
    expect([0x86, 0x87]).toContain((err as { context: { code: unknown } }).context.code);
    // not the 5 s connect timeout: a refused login is not retried
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('connects over TLS with a client certificate, and refuses a server it cannot verify', async () => {
    const tls = { url: broker.tlsUrl!, caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile };
    const { link, got } = await startLink(tls);
    await link.subscribe([PREDICTIONS], 1);
    await publish('pdm/v1/gw-1/up/predictions', 3);
    await link.flush(3000);
    expect(payloads(got)).toEqual(range(0, 3));
    await stopLink(link);

    await expect(startLink({ ...tls, caFile: certs.otherCaFile })).rejects.toMatchObject({
      code: 'LINK_FAILED', message: 'broker refused the connection', context: { code: expect.stringMatching(/CERT|VERIFY|SELF_SIGNED/) },
    });
    // rejectUnauthorized false accepts it (for tests only)
    const lax = await startLink({ ...tls, caFile: certs.otherCaFile, rejectUnauthorized: false });
    expect(lax.link.connected).toBe(true);
  });

  it('keeps what devices publish while the controller is away in its session, and what it held on stop', async () => {
    const first = await startLink({ clientId: 'pdm-session' });
    await first.link.subscribe([PREDICTIONS], 1);
    await publish('pdm/v1/gw-1/up/predictions', 2);
    await first.link.flush(3000);
    // the gate's stop: drain, then hold what still arrives unacknowledged
    first.link.hold();
    await publish('pdm/v1/gw-1/up/predictions', 3, 2);
    await stopLink(first.link);
    await publish('pdm/v1/gw-1/up/predictions', 5, 5);
    expect(payloads(first.got)).toEqual(range(0, 2));

    const again = await startLink({ clientId: 'pdm-session' });
    await again.link.flush(3000);
    expect(payloads(again.got)).toEqual(range(2, 8));
  });

  it('splits shared subscriptions between two instances, gives both every reply, and leaves the group', async () => {
    const a = await startLink({ clientId: 'pdm-a', sharedGroup: 'pdm' });
    const b = await startLink({ clientId: 'pdm-b', sharedGroup: 'pdm' });
    await a.link.subscribe([PREDICTIONS, REPLIES], 1);
    await b.link.subscribe([PREDICTIONS, REPLIES], 1);
    await publish('pdm/v1/gw-1/up/predictions', 40);
    await publish('pdm/v1/gw-1/up/reply', 4, 100);
    await a.link.flush(3000);
    await b.link.flush(3000);
    const predictions = (got: LinkMessage[]) => got.filter((m) => m.topic.endsWith('/predictions'));
    const replies = (got: LinkMessage[]) => got.filter((m) => m.topic.endsWith('/reply'));
    // each prediction went to exactly one instance, and both took a share
    expect(payloads([...predictions(a.got), ...predictions(b.got)])).toEqual(range(0, 40));
    expect(predictions(a.got).length).toBeGreaterThan(0);
    expect(predictions(b.got).length).toBeGreaterThan(0);
    expect(payloads(replies(a.got))).toEqual(range(100, 4));
    expect(payloads(replies(b.got))).toEqual(range(100, 4));

    expect(await a.link.leaveSharedGroup()).toBe(1);
    const before = predictions(a.got).length;
    await publish('pdm/v1/gw-1/up/predictions', 10, 40);
    await a.link.flush(3000);
    await b.link.flush(3000);
    expect(predictions(a.got)).toHaveLength(before);
    expect(payloads(predictions(b.got)).filter((n) => n >= 40)).toEqual(range(40, 10));
  });
});

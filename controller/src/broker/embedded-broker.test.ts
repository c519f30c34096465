/**
 * The embedded broker's hand-over of device publishes to ingest (takeUpstream): real aedes over TCP,
 * real mqtt.js devices. A QoS 1 publish is acknowledged only once the handler has settled it, and the
 * PUBACKs of a batch settled at once (as ingest's record route settles a committed batch) reach each
 * device in its publish order, although they now leave corked, in one write of the TCP socket
 * (packet-guard.ts _writev).
 */
import { Socket } from 'node:net';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { captureLogs } from '../testing/log-capture.js';
import { onceWithin } from '../testing/device-client.js';
import type { LinkMessage } from './broker-link.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { MqttLink } from './mqtt-link.js';

const { log } = captureLogs('silent');
let broker: EmbeddedBroker;
const clients: MqttClient[] = [];

interface Held {
  readonly message: LinkMessage;
  resolve(): void;
  reject(err: unknown): void;
}

/** The upstream handler: holds every message until the test settles it. */
function holdUpstream(): Held[] {
  const held: Held[] = [];
  broker.takeUpstream((message) => new Promise<void>((resolve, reject) => { held.push({ message, resolve, reject }); }));
  return held;
}

beforeEach(async () => {
  broker = new EmbeddedBroker({ host: '127.0.0.1', mqttPort: 0, wsPort: 0, drainTimeoutMs: 10_000, concurrency: 100 }, log);
  await broker.start();
  broker.openToDevices();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  await broker.stop();
});

async function device(clientId: string): Promise<MqttClient> {
  const c = await connectAsync(`mqtt://127.0.0.1:${broker.ports!.mqtt}`, { clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000 });
  clients.push(c);
  return c;
}

describe('EmbeddedBroker hand-over to ingest', () => {
  it('acknowledges a publish only after the handler settled it; PUBACKs settled together reach each device in its order', async () => {
    // settled as ingest's record route settles a committed batch: everything that arrived during an
    // event-loop turn, in one synchronous loop, so their PUBACKs leave together
    const waiting: Held[] = [];
    const settled = new Set<string>();
    let largestBatch = 0;
    const settle = (): void => {
      const batch = waiting.splice(0);
      largestBatch = Math.max(largestBatch, batch.length);
      for (const h of batch) {
        settled.add(`${h.message.topic} ${h.message.payload.toString()}`);
        h.resolve();
      }
    };
    broker.takeUpstream((message) => new Promise<void>((resolve, reject) => {
      if (waiting.push({ message, resolve, reject }) === 1) setImmediate(settle);
    }));
    const devices = await Promise.all(['gw-1', 'gw-2', 'gw-3'].map((id) => device(id)));
    const PER_DEVICE = 200;
    const acked = devices.map(() => [] as number[]);
    const early: string[] = [];
    await Promise.all(devices.flatMap((d, k) => Array.from({ length: PER_DEVICE }, (_v, i) => new Promise<void>((resolve, reject) => {
      const topic = `pdm/v1/gw-${k + 1}/up/predictions`;
      d.publish(topic, String(i), { qos: 1 }, (err) => {
        if (err !== undefined && err !== null) return reject(err);
        if (!settled.has(`${topic} ${i}`)) early.push(`${topic} ${i}`);
        acked[k]!.push(i);
        resolve();
      });
    }))));
    expect(early).toEqual([]);
    const inOrder = Array.from({ length: PER_DEVICE }, (_v, i) => i);
    expect(acked).toEqual(devices.map(() => inOrder));
    // the case this test is about: several PUBACKs written in one turn
    expect(largestBatch).toBeGreaterThan(1);
    for (const d of devices) expect(d.connected).toBe(true);
  });

  it('sends the PUBACKs of publishes settled together in one write of the TCP socket', async () => {
    const held = holdUpstream();
    const d = await device('gw-w');
    const PUBLISHES = 20;
    const acked = Array.from({ length: PUBLISHES }, (_v, i) => d.publishAsync('pdm/v1/gw-w/up/events', String(i), { qos: 1 }));
    await vi.waitFor(() => expect(held.length).toBe(PUBLISHES), { timeout: 3000 });
    // the broker's side of this device's connection is the socket whose remote port is the device's own
    const devicePort = (d.stream as Socket).localPort;
    const writes: number[] = [];
    const record = (socket: Socket, bytes: number): void => { if (socket.remotePort === devicePort) writes.push(bytes); };
    // Node's stream internals of a socket: one call per write it is asked to make
    interface SocketWrites {
      _write(this: Socket, chunk: Buffer, encoding: BufferEncoding, cb: () => void): void;
      _writev(this: Socket, chunks: { chunk: Buffer }[], cb: () => void): void;
    }
    const proto = Socket.prototype as unknown as SocketWrites;
    const { _write: write, _writev: writev } = proto;
    const spies = [
      vi.spyOn(proto, '_write').mockImplementation(function (this: Socket, chunk, encoding, cb) {
        record(this, chunk.length);
        write.call(this, chunk, encoding, cb);
      }),
      vi.spyOn(proto, '_writev').mockImplementation(function (this: Socket, chunks, cb) {
        record(this, chunks.reduce((n, c) => n + c.chunk.length, 0));
        writev.call(this, chunks, cb);
      }),
    ];
    try {
      for (const h of held) h.resolve();
      await Promise.all(acked);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    // a PUBACK is 4 bytes [MQTT-3.4]
    expect(writes).toEqual([PUBLISHES * 4]);
  });

  it('closes the connection, unacknowledged, of a publish the handler failed on (thrown or rejected)', async () => {
    for (const failure of ['throws', 'rejects'] as const) {
      broker.takeUpstream((message) => {
        if (message.payload.toString() !== 'poison') return undefined;
        if (failure === 'throws') throw new Error('disk full (simulated)');
        return Promise.reject(new Error('disk full (simulated)'));
      });
      const d = await device(`gw-${failure}`);
      await d.publishAsync(`pdm/v1/gw-${failure}/up/events`, 'fine', { qos: 1 });
      let acknowledged = false;
      d.publish(`pdm/v1/gw-${failure}/up/events`, 'poison', { qos: 1 }, (err) => { acknowledged = err === undefined || err === null; });
      await onceWithin(d, 'close', 3000);
      expect(acknowledged, failure).toBe(false);
    }
  });

  it('hands over exactly the upstream topics of the protocol; the rest goes through the broker as before', async () => {
    const held = holdUpstream();
    const link = new MqttLink({ connect: () => broker.linkOptions(), reconnectPeriodMs: 100 }, log);
    await link.start();
    try {
      const delivered: string[] = [];
      link.setHandler((m) => { delivered.push(m.topic); });
      await link.subscribe(['#'], 1);
      const d = await device('gw-t');
      const upstream = ['pdm/v1/gw-t/up/status', 'pdm/v1/gw-t/up/predictions', 'pdm/v1/gw-t/up/fetch', 'pdm/v1//up/metrics'];
      const others = [
        'pdm/v1/gw-t/down/cmd', 'pdm/v1/gw-t/up/nothing', 'pdm/v1/gw-t/up/status/more', 'pdm/v1/gw-t/x/up/status', 'pdm/v1/gw-t/up',
        'pdm/v1/gw-t/up/', 'pdm/v2/gw-t/up/status', 'xpdm/v1/gw-t/up/status', 'pdm/v1', 'pdm/v1/up/status', 'other',
      ];
      // QoS 0: an upstream publish stays with the (holding) handler, and nothing waits for it
      for (const topic of [...upstream, ...others]) d.publish(topic, 'x', { qos: 0 });
      await d.publishAsync('pdm/v1/gw-t/end', 'x', { qos: 1 });
      await link.flush(3000);
      expect(held.map((h) => h.message.topic)).toEqual(upstream);
      for (const topic of others) expect(delivered, topic).toContain(topic);
      for (const h of held) h.resolve();
    } finally {
      await link.stop();
    }
  });
});

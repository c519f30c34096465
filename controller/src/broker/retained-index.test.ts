/**
 * The retained index against MQTT's matching rules, and through a real embedded broker: a device that
 * subscribes gets exactly the retained messages its filter matches, as with aedes' own scan.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { onceWithin } from '../testing/device-client.js';
import { captureLogs } from '../testing/log-capture.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { RetainedIndex, topicMatches } from './retained-index.js';

const { log } = captureLogs('silent');
const m = (filter: string, topic: string) => topicMatches(filter.split('/'), topic.split('/'));

describe('topicMatches (MQTT 3.1.1 section 4.7)', () => {
  it('matches + as one level and # as the parent and everything below', () => {
    expect(m('pdm/v1/a/down/+', 'pdm/v1/a/down/cmd')).toBe(true);
    expect(m('pdm/v1/a/down/+', 'pdm/v1/a/down')).toBe(false);
    expect(m('pdm/v1/a/down/+', 'pdm/v1/a/down/cmd/x')).toBe(false);
    expect(m('pdm/v1/+/up/#', 'pdm/v1/a/up/status')).toBe(true);
    expect(m('pdm/v1/+/up/#', 'pdm/v1/a/up')).toBe(true);
    expect(m('pdm/v1/+/up/#', 'pdm/v1/a/down/cmd')).toBe(false);
    expect(m('#', 'pdm/v1/a/up/status')).toBe(true);
    expect(m('pdm/v1/a', 'pdm/v1/a')).toBe(true);
    expect(m('pdm/v1/a', 'pdm/v1/ab')).toBe(false);
  });

  it('keeps wildcards at the first level away from $ topics', () => {
    expect(m('#', '$SYS/broker/x')).toBe(false);
    expect(m('+/broker/x', '$SYS/broker/x')).toBe(false);
    expect(m('$SYS/#', '$SYS/broker/x')).toBe(true);
  });
});

describe('RetainedIndex', () => {
  it('finds a device\'s messages by its prefix, every device\'s through a wildcard, once each, and forgets an empty payload', () => {
    const index = new RetainedIndex();
    for (const d of ['a', 'b', 'c']) index.store({ topic: `pdm/v1/${d}/up/status`, payload: Buffer.from(d) });
    index.store({ topic: 'pdm/v1/a/down/cmd', payload: Buffer.from('x') });
    index.store({ topic: 'short', payload: Buffer.from('s') });
    const topics = (filters: string[]) => [...index.match(filters)].map((p) => p.topic).sort();
    expect(topics(['pdm/v1/a/#'])).toEqual(['pdm/v1/a/down/cmd', 'pdm/v1/a/up/status']);
    expect(topics(['pdm/v1/+/up/#'])).toEqual(['pdm/v1/a/up/status', 'pdm/v1/b/up/status', 'pdm/v1/c/up/status']);
    expect(topics(['pdm/v1/a/#', 'pdm/v1/+/up/status'])).toEqual(['pdm/v1/a/down/cmd', 'pdm/v1/a/up/status', 'pdm/v1/b/up/status', 'pdm/v1/c/up/status']);
    expect(topics(['short', 'pdm/v1/z/#'])).toEqual(['short']);
    index.store({ topic: 'pdm/v1/b/up/status', payload: Buffer.alloc(0) });
    expect(topics(['#'])).toEqual(['pdm/v1/a/down/cmd', 'pdm/v1/a/up/status', 'pdm/v1/c/up/status', 'short']);
    expect(index.size).toBe(4);
  });
});

describe('retained messages on the embedded broker', () => {
  const clients: MqttClient[] = [];
  let broker: EmbeddedBroker | undefined;
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true);
    await broker?.stop();
  });

  async function client(id: string): Promise<MqttClient> {
    const c = await connectAsync(`mqtt://127.0.0.1:${broker!.ports!.mqtt}`, { clientId: id, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  }

  /** The retained messages a fresh client receives for `filter`, collected until a marker behind them arrives. */
  async function retainedFor(filter: string): Promise<string[]> {
    const c = await client(`reader-${Math.random().toString(36).slice(2, 8)}`);
    const got: string[] = [];
    c.on('message', (topic, payload, packet) => { if (packet.retain && topic !== 'marker/done') got.push(`${topic}=${payload.toString()}`); });
    await c.subscribeAsync(filter, { qos: 1 });
    // retained messages are sent on SUBSCRIBE; a marker published afterwards arrives behind them
    await c.subscribeAsync('marker/done', { qos: 1 });
    const marker = onceWithin(c, 'message', 5000);
    await c.publishAsync('marker/done', 'x', { qos: 1 });
    await marker;
    return got.sort();
  }

  it('delivers the retained messages a filter matches, and none after they are cleared', async () => {
    broker = new EmbeddedBroker({ host: '127.0.0.1', mqttPort: 0, wsPort: 0, drainTimeoutMs: 1000, concurrency: 100, deviceAuth: 'none' }, log);
    await broker.start();
    broker.openToDevices();
    const writer = await client('writer');
    for (const d of ['gw-1', 'gw-2']) await writer.publishAsync(`pdm/v1/${d}/up/status`, `online-${d}`, { qos: 1, retain: true });
    await writer.publishAsync('pdm/v1/gw-1/down/cmd', 'hello', { qos: 1, retain: true });
    expect(await retainedFor('pdm/v1/gw-1/down/+')).toEqual(['pdm/v1/gw-1/down/cmd=hello']);
    expect(await retainedFor('pdm/v1/gw-2/down/+')).toEqual([]);
    expect(await retainedFor('pdm/v1/+/up/#')).toEqual(['pdm/v1/gw-1/up/status=online-gw-1', 'pdm/v1/gw-2/up/status=online-gw-2']);
    await writer.publishAsync('pdm/v1/gw-1/up/status', '', { qos: 1, retain: true });
    expect(await retainedFor('pdm/v1/+/up/status')).toEqual(['pdm/v1/gw-2/up/status=online-gw-2']);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { topicFor, type Status } from '@pdm/protocol';
import { systemClock } from '../clock.js';
import { TestBroker } from '../testing/broker.js';
import { silentLogger } from '../testing/logger.js';
import { waitFor } from '../testing/waiting.js';
import { MqttLink } from './mqtt-link.js';

function status(state: 'online' | 'offline', reason?: 'stopped' | 'lost'): Status {
  return {
    deviceId: 'edge-1',
    state,
    time: new Date().toISOString(),
    ...(reason === undefined ? {} : { reason }),
    agentVersion: '0.1.0',
    bootId: 'boot-1',
    assetId: 'm3',
    assetClass: 'pump',
    site: 'plant-a',
    models: [],
    lastSeq: 0,
  };
}

const brokers: TestBroker[] = [];
const links: MqttLink[] = [];
afterEach(async () => {
  await Promise.all(links.splice(0).map((l) => l.stop()));
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

async function setup() {
  const broker = new TestBroker();
  brokers.push(broker);
  await broker.start();
  const link = new MqttLink({
    config: {
      deviceId: 'edge-1',
      brokerUrl: broker.url,
      keepaliveSeconds: 30,
      connectTimeoutMs: 2000,
      reconnectInitialMs: 20,
      reconnectMaxMs: 100,
    },
    will: () => status('offline', 'lost'),
    clock: systemClock,
    log: silentLogger,
  });
  links.push(link);
  return { broker, link };
}

describe('MqttLink against a real broker', () => {
  it('connects as the device, publishes with the topic QoS and retain flag, and resolves on PUBACK', async () => {
    const { broker, link } = await setup();
    let ups = 0;
    link.onUp(() => ups++);
    link.start();
    await waitFor(() => link.connected, 'link up');
    expect(ups).toBe(1);
    await link.publishPayload('status', status('online'));
    await link.publish('events', Buffer.from('{"x":1}'));
    expect(broker.published.map((p) => [p.topic, p.qos, p.retain, p.clientId])).toEqual([
      [topicFor('edge-1', 'status'), 1, true, 'edge-1'],
      [topicFor('edge-1', 'events'), 1, false, 'edge-1'],
    ]);
  });

  it('rejects publishes with LINK_FAILED while not connected', async () => {
    const { link } = await setup();
    await expect(link.publish('events', Buffer.from('{}'))).rejects.toMatchObject({ code: 'LINK_FAILED' });
  });

  it('leaves a retained offline/lost will when the connection dies, and reconnects on its own', async () => {
    const { broker, link } = await setup();
    let downs = 0;
    let ups = 0;
    link.onDown(() => downs++);
    link.onUp(() => ups++);
    link.start();
    await waitFor(() => link.connected, 'link up');
    broker.dropClients();
    await waitFor(() => downs === 1, 'link down');
    await waitFor(() => ups === 2, 'reconnected');
    const wills = broker.published.filter((p) => p.topic === topicFor('edge-1', 'status'));
    // the will is published by the broker on the client's behalf, so it carries the client's id
    expect(wills).toHaveLength(1);
    expect(wills[0]!.retain).toBe(true);
    expect(JSON.parse(wills[0]!.payload.toString())).toMatchObject({ state: 'offline', reason: 'lost', deviceId: 'edge-1' });
  });

  it('keeps retrying with backoff while the broker is down, and connects when it returns', async () => {
    const { broker, link } = await setup();
    link.start();
    await waitFor(() => link.connected, 'link up');
    await broker.stop();
    await waitFor(() => !link.connected, 'link down');
    await broker.start();
    await waitFor(() => link.connected, 'link up again');
  });

  it('says goodbye on stop: status offline/stopped, and no will', async () => {
    const { broker, link } = await setup();
    link.start();
    await waitFor(() => link.connected, 'link up');
    await link.stop(status('offline', 'stopped'));
    links.length = 0;
    expect(link.connected).toBe(false);
    const statuses = broker.payloads('/up/status');
    expect(statuses).toHaveLength(1);
    expect(statuses[0]).toMatchObject({ state: 'offline', reason: 'stopped' });
  });

  it('delivers messages on its own down topics to their listeners', async () => {
    const { broker, link } = await setup();
    const received: string[] = [];
    link.onMessage('cmd', (payload) => received.push(payload.toString()));
    link.start();
    await waitFor(() => link.connected, 'link up');
    const { connect } = await import('mqtt');
    const controller = connect(broker.url, { clientId: 'controller', reconnectPeriod: 0 });
    await new Promise((resolve) => controller.once('connect', resolve));
    await controller.publishAsync(topicFor('edge-1', 'cmd'), '{"id":"c1"}', { qos: 1 });
    await controller.publishAsync('pdm/v1/edge-2/down/cmd', '{"id":"other"}', { qos: 1 });
    await waitFor(() => received.length === 1, 'command received');
    await controller.endAsync();
    expect(received).toEqual(['{"id":"c1"}']);
  });
});

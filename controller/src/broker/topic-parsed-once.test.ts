/**
 * A device publish's topic is parsed once on the controller's thread, where the embedded broker
 * receives it: its ACL (device auth on), ingest (decode) and the metrics observer use that one parse
 * (LinkMessage.parsed). parseTopic is wrapped to count its calls; everything else is real (aedes over
 * TCP, mqtt.js devices, the test controller with its SQLite file and ingest).
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodePayload, parseTopic, upTopic } from '@pdm/protocol';
import { ControllerMetrics } from '../metrics/metrics.js';
import { captureLogs } from '../testing/log-capture.js';
import * as fx from '../testing/fixtures.js';
import { connectDevice } from '../testing/device-client.js';
import { startTestController, type TestController } from '../testing/harness.js';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import type { LinkMessage } from './broker-link.js';
import { EmbeddedBroker } from './embedded-broker.js';

vi.mock('@pdm/protocol', async (importOriginal) => {
  const protocol = await importOriginal<typeof import('@pdm/protocol')>();
  return { ...protocol, parseTopic: vi.fn(protocol.parseTopic) };
});

const { log } = captureLogs('silent');
const parses = (topic: string): number => vi.mocked(parseTopic).mock.calls.filter(([t]) => t === topic).length;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('a device publish\'s topic', () => {
  it('is parsed once per publish for the ACL, ingest and metrics with device auth on', async () => {
    const metrics = new ControllerMetrics({ db: () => { throw new Error('not scraped here'); }, linkConnected: () => true, leader: () => true, members: () => 1 });
    const broker = new EmbeddedBroker({
      host: '127.0.0.1', mqttPort: 0, wsPort: 0, drainTimeoutMs: 10_000, concurrency: 100, deviceAuth: 'credentials', observer: metrics,
    }, log, { verify: async (id, password) => id === 'gw-p' && password.toString() === 'secret', isActive: () => true });
    await broker.start();
    cleanup.push(() => broker.stop());
    const got: LinkMessage[] = [];
    broker.takeUpstream((message) => { got.push(message); });
    broker.openToDevices();
    const device: MqttClient = await connectAsync(`mqtt://127.0.0.1:${broker.ports!.mqtt}`, {
      clientId: 'gw-p', username: 'gw-p', password: 'secret', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000,
    });
    cleanup.push(() => device.endAsync(true));
    const topic = upTopic('gw-p', 'status');
    const expected = parseTopic(topic);
    vi.mocked(parseTopic).mockClear();
    for (let i = 0; i < 3; i++) await device.publishAsync(topic, encodePayload('status', fx.status('gw-p')), { qos: 1 });
    expect(parses(topic)).toBe(3);
    expect(got.map((m) => m.parsed)).toEqual([expected, expected, expected]);
    const body = (await metrics.registry.getSingleMetric('pdm_link_messages_total')!.get()).values;
    expect(body).toContainEqual(expect.objectContaining({ labels: { kind: 'status', outcome: 'handled' }, value: 3 }));
  });

  it('is parsed once per message where it is no pdm topic, and ingest still counts it as invalid', async () => {
    const tc: TestController = await startTestController();
    cleanup.push(() => tc.stop());
    const device = await connectDevice(tc.mqttUrl, 'd-bad', { withWill: false });
    cleanup.push(() => device.end());
    const topic = 'pdm/v1/bad device!/up/status';
    vi.mocked(parseTopic).mockClear();
    for (let i = 0; i < 2; i++) await device.publishRaw(topic, encodePayload('status', fx.status('d-bad')));
    await tc.settle();
    expect(parses(topic)).toBe(2);
    expect(new IngestStatsRepo(tc.app.database.handle).totals().invalid.byCode.TOPIC_INVALID).toBe(2);
  });
});

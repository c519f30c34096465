/** /metrics on a whole controller in this process: the exposition parses and the numbers follow real MQTT traffic. */
import { afterEach, describe, expect, it } from 'vitest';
import { encodePayload, upTopic } from '@pdm/protocol';
import { connectAsync } from 'mqtt';
import { connectDevice, type TestDevice } from '../testing/device-client.js';
import * as fx from '../testing/fixtures.js';
import { startTestController, type TestController } from '../testing/harness.js';
import { parseExposition, type ParsedExposition } from './exposition.js';

let tc: TestController | undefined;
let device: TestDevice | undefined;
afterEach(async () => {
  await device?.end();
  await tc?.stop();
  device = undefined;
  tc = undefined;
});

async function scrape(t: TestController): Promise<ParsedExposition> {
  const res = await fetch(`http://127.0.0.1:${t.app.ready().httpPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

describe('GET /metrics', () => {
  it('declares every pdm family with its type, and the process metrics', async () => {
    tc = await startTestController();
    const m = await scrape(tc);
    expect(Object.fromEntries([...m.types].filter(([name]) => name.startsWith('pdm_')))).toEqual({
      pdm_devices: 'gauge', pdm_fleet_outbox_records: 'gauge', pdm_fleet_outbox_bytes: 'gauge', pdm_fleet_records_behind: 'gauge',
      pdm_fleet_dropped_records: 'gauge', pdm_fleet_restart_state_frozen: 'gauge', pdm_ingest_messages_total: 'counter', pdm_ingest_records_stored_total: 'counter',
      pdm_ingest_duplicates_total: 'counter', pdm_ingest_conflicts_total: 'counter', pdm_ingest_invalid_total: 'counter',
      pdm_rollouts: 'gauge', pdm_link_messages_total: 'counter', pdm_ingest_latency_seconds: 'histogram',
      pdm_broker_link_connected: 'gauge', pdm_broker_clients_connected: 'gauge', pdm_broker_messages_received_total: 'counter',
      pdm_broker_messages_sent_total: 'counter', pdm_broker_refused_total: 'counter',
      pdm_broker_publishes_throttled_total: 'counter', pdm_cluster_leader: 'gauge', pdm_cluster_members: 'gauge',
    });
    expect(m.types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(m.value('pdm_devices', { state: 'online' })).toBe(0);
    expect(m.value('pdm_ingest_records_stored_total', { kind: 'predictions' })).toBe(0);
    expect(m.value('pdm_rollouts', { state: 'running' })).toBe(0);
    expect(m.value('pdm_fleet_restart_state_frozen')).toBe(0);
    expect(m.value('pdm_cluster_leader')).toBe(1);
    expect(m.value('pdm_cluster_members')).toBe(1);
    expect(m.value('pdm_broker_link_connected')).toBe(1);
    expect(() => parseExposition('pdm_x 1\n')).toThrow(/before its # TYPE/);
    expect(() => parseExposition('# TYPE pdm_x gauge\npdm_x{a=b} 1\n')).toThrow(/malformed labels/);
    expect(() => parseExposition('# TYPE pdm_x gauge\npdm_x one\n')).toThrow(/not a number/);
    // prom-client prints NaN as "Nan" (an event-loop gauge before its first sample); Prometheus reads it
    expect(parseExposition('# TYPE pdm_x gauge\npdm_x{a="b \\"c\\""} Nan\n').samples).toEqual([{ name: 'pdm_x', labels: { a: 'b "c"' }, value: NaN }]);
  });

  it('moves with the fleet, ingest, rollouts and the broker as devices publish', async () => {
    tc = await startTestController();
    const before = await scrape(tc);
    device = await connectDevice(tc.mqttUrl, 'gw-m');
    // ingest takes device publishes in the broker's hook, not as a subscriber: this one makes the broker deliver them
    const watcher = await connectAsync(tc.mqttUrl, { clientId: 'watcher', protocolVersion: 4, reconnectPeriod: 0 });
    await watcher.subscribeAsync('pdm/v1/gw-m/up/#', { qos: 1 });
    // its restart state left out since 09:00 (a full disk)
    const frozen = { ...fx.status('gw-m').counters!, statesNotStored: 1, stateStoredAt: null, stateNotStoredSince: '2026-01-01T09:00:00.000Z' };
    await device.publish('status', fx.status('gw-m', { lastSeq: 9, counters: frozen }));
    for (const seq of [1, 2, 3]) await device.publish('predictions', fx.predictions('gw-m', seq, 2));
    await device.publish('predictions', fx.predictions('gw-m', 3, 2)); // the same bytes again: a duplicate
    await device.publish('alerts', fx.alert('gw-m', 5));
    await device.publishRaw(upTopic('gw-m', 'events'), 'not json');
    await device.publishRaw(upTopic('gw-m', 'metrics'), encodePayload('metrics', fx.metrics('gw-other', 6)));
    await tc.settle();
    tc.app.database.handle.prepare(`INSERT INTO rollouts (id, model_name, model_version, spec, state, stage, created_at, created_by, updated_at)
      VALUES ('r1', 'm', '1.0.0', '{}', 'running', 0, 0, 'test', 0)`).run();

    const m = await scrape(tc);
    await watcher.endAsync(true);
    expect(m.value('pdm_devices', { state: 'online' })).toBe(1);
    expect(m.value('pdm_fleet_outbox_records')).toBe(3);
    expect(m.value('pdm_fleet_outbox_bytes')).toBe(900);
    expect(m.value('pdm_fleet_dropped_records', { reason: 'telemetry-evicted' })).toBe(2);
    expect(m.value('pdm_fleet_restart_state_frozen')).toBe(1);
    // lastSeq 9 reported, 1..3 stored contiguously
    expect(m.value('pdm_fleet_records_behind')).toBe(6);
    expect(m.value('pdm_ingest_records_stored_total', { kind: 'predictions' })).toBe(3);
    expect(m.value('pdm_ingest_records_stored_total', { kind: 'alerts' })).toBe(1);
    expect(m.value('pdm_ingest_duplicates_total', { kind: 'predictions' })).toBe(1);
    expect(m.value('pdm_ingest_messages_total', { kind: 'status' })).toBe(1);
    expect(m.value('pdm_ingest_invalid_total', { code: 'PAYLOAD_NOT_JSON' })).toBe(1);
    expect(m.value('pdm_ingest_invalid_total', { code: 'DEVICE_MISMATCH' })).toBe(1);
    expect(m.value('pdm_rollouts', { state: 'running' })).toBe(1);
    expect(m.value('pdm_link_messages_total', { kind: 'predictions', outcome: 'handled' })).toBe(4);
    // embedded mode: the controller has no link of its own, the broker's publish hook hands these to ingest
    const help = await (await fetch(`http://127.0.0.1:${tc.app.ready().httpPort}/metrics`)).text();
    expect(help).toMatch(/^# HELP pdm_link_messages_total .*embedded broker's publish hook/m);
    expect(m.value('pdm_ingest_latency_seconds_count', { kind: 'predictions' })).toBe(4);
    expect(m.value('pdm_ingest_latency_seconds_bucket', { kind: 'predictions', le: '+Inf' })).toBe(4);
    expect(m.value('pdm_ingest_latency_seconds_sum', { kind: 'predictions' })).toBeGreaterThan(0);
    // device, watcher and link connected; 8 publishes from the device at least, each delivered to the watcher (the link's flush markers come on top)
    expect(m.value('pdm_broker_clients_connected')).toBe(3);
    const received = m.value('pdm_broker_messages_received_total')! - before.value('pdm_broker_messages_received_total')!;
    expect(received).toBeGreaterThanOrEqual(8);
    expect(m.value('pdm_broker_messages_sent_total')).toBeGreaterThanOrEqual(8);
  });
});

/**
 * Issue 2: malformed, oversized and hostile payloads on every upstream topic, and a payload whose
 * deviceId differs from its topic, are counted and not stored, and the controller keeps serving.
 * A real controller process; a raw mqtt.js client plays a misbehaving device.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicFor, topicSpecs, upKinds, type UpKind } from '@pdm/protocol';
import { startController, type ControllerHandle } from '../helpers/fleet.js';

interface IngestTotals {
  stored: number;
  duplicates: number;
  invalid: { total: number; byCode: Record<string, number> };
}

const deviceId = 'gw-bad';

/** Payloads that must be refused on any topic, with the error code each must be counted under. */
function hostilePayloads(kind: UpKind): { name: string; bytes: Buffer; code: string }[] {
  const depth = Math.min(5000, Math.floor((topicSpecs[kind].maxBytes - 16) / 2));
  const deep = '['.repeat(depth) + ']'.repeat(depth);
  return [
    { name: 'truncated JSON', bytes: Buffer.from('{"deviceId":"gw-bad",'), code: 'PAYLOAD_NOT_JSON' },
    { name: 'binary garbage', bytes: Buffer.from([0xff, 0x00, 0xfe, 0x13, 0x37]), code: 'PAYLOAD_NOT_JSON' },
    { name: 'oversized', bytes: Buffer.alloc(topicSpecs[kind].maxBytes + 1, 0x20), code: 'PAYLOAD_TOO_LARGE' },
    { name: 'deep nesting', bytes: Buffer.from(deep), code: 'PAYLOAD_INVALID' },
    { name: 'prototype keys', bytes: Buffer.from(`{"__proto__":{"admin":true},"deviceId":"${deviceId}","seq":1}`), code: 'PAYLOAD_INVALID' },
    { name: 'wrong types', bytes: Buffer.from(JSON.stringify({ deviceId, seq: 'one', time: 42 })), code: 'PAYLOAD_INVALID' },
    { name: 'NaN smuggled as a string', bytes: Buffer.from(JSON.stringify({ deviceId, seq: 1, time: '2015-01-01T00:00:00Z', score: 'NaN' })), code: 'PAYLOAD_INVALID' },
    { name: 'huge string', bytes: Buffer.from(JSON.stringify({ deviceId, note: 'x'.repeat(Math.min(topicSpecs[kind].maxBytes - 200, 15_000)) })), code: 'PAYLOAD_INVALID' },
  ];
}

const validEvent = (seq: number, device = deviceId) => ({
  deviceId: device, seq, time: '2015-01-05T06:00:00.000Z', assetId: 'machine-1', type: 'failure',
  at: '2015-01-05T06:00:00.000Z', component: 'comp4', source: 'replay',
});

describe('hostile upstream payloads', () => {
  let dir: string;
  let controller: ControllerHandle;
  let client: MqttClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-e2e-bad-'));
    controller = await startController({ dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log') });
    // an enrolled device sending garbage on its own topics: what ingest must survive after the broker let it in
    const password = readFileSync(await controller.enroll(deviceId), 'utf8').trim();
    client = await mqtt.connectAsync(controller.mqttUrl, { clientId: deviceId, username: deviceId, password, reconnectPeriod: 0 });
  });

  afterAll(async () => {
    await client?.endAsync();
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function ingestTotals(): Promise<IngestTotals> {
    return controller.get<IngestTotals>('/api/v1/ingest');
  }

  async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('counts every hostile payload on every up topic by reason, stores none, and keeps serving', async () => {
    const expected: Record<string, number> = {};
    let sent = 0;
    for (const kind of upKinds) {
      for (const p of hostilePayloads(kind)) {
        await client.publishAsync(topicFor(deviceId, kind), p.bytes, { qos: 1 });
        expected[p.code] = (expected[p.code] ?? 0) + 1;
        sent++;
      }
    }
    // a well-formed record whose deviceId is another device's
    await client.publishAsync(topicFor(deviceId, 'events'), Buffer.from(JSON.stringify(validEvent(1, 'gw-other'))), { qos: 1 });
    expected['DEVICE_MISMATCH'] = 1;
    sent++;

    await until('all hostile payloads counted', async () => (await ingestTotals()).invalid.total >= sent);
    const totals = await ingestTotals();
    expect(totals.invalid.total).toBe(sent);
    expect(totals.invalid.byCode).toEqual(expected);
    expect(totals.stored).toBe(0);

    const health = await fetch(`${controller.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(controller.program.running).toBe(true);
  });

  it('still stores a good record once, even when it is sent twice', async () => {
    const bytes = Buffer.from(JSON.stringify(validEvent(1)));
    await client.publishAsync(topicFor(deviceId, 'events'), bytes, { qos: 1 });
    await client.publishAsync(topicFor(deviceId, 'events'), bytes, { qos: 1 });
    await until('the good record and its duplicate counted', async () => {
      const t = await ingestTotals();
      return t.stored === 1 && t.duplicates === 1;
    });
    const detail = await controller.get<{ events: unknown[]; invalidPayloads: { total: number } }>(`/api/v1/devices/${deviceId}`);
    expect(detail.events).toHaveLength(1);
    expect(detail.invalidPayloads.total).toBeGreaterThan(0);
  });
});

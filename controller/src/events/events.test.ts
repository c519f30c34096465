/**
 * Entered machine events on a whole controller (real SQLite, aedes, mqtt.js devices): refused input is
 * a 400 naming the field and stores nothing; stored events reach the asset's device as machine-event
 * commands, also when the device was offline at the time (sent again once it reports itself online).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_FILE } from '../auth/tokens.js';
import { connectDevice, type TestDevice } from '../testing/device-client.js';
import * as fx from '../testing/fixtures.js';
import { startTestController, type TestController } from '../testing/harness.js';

let c: TestController;
let token: string;
const devices: TestDevice[] = [];

beforeAll(async () => {
  c = await startTestController({ flags: { eventRetrySec: '3600', commandTimeoutMs: '2000' } });
  token = readFileSync(join(c.config.dataDir, ADMIN_TOKEN_FILE), 'utf8').trim();
  const online = await connectDevice(c.mqttUrl, 'gw-3', { answer: true });
  devices.push(online);
  await online.publish('status', fx.status('gw-3', { assetId: 'machine-3' }));
  // gw-4 watches machine-4 but is offline: it said so before leaving
  const offline = await connectDevice(c.mqttUrl, 'gw-4', { withWill: false });
  await offline.publish('status', fx.status('gw-4', { assetId: 'machine-4' }));
  await offline.publish('status', { ...fx.will('gw-4'), assetId: 'machine-4' });
  await offline.end();
  await c.settle();
});

afterAll(async () => {
  for (const d of devices) await d.end();
  await c.stop();
});

async function post(url: string, payload: unknown) {
  const res = await c.app.http.app.inject({ method: 'POST', url, payload: payload as object, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() as Record<string, any> };
}

const stored = () => (c.app.database.handle.prepare('SELECT COUNT(*) FROM machine_events_entered').pluck().get() as number);
const fields = (body: Record<string, any>) => (body.error.context.issues as { field: string }[]).map((i) => i.field);

async function until<T>(what: string, probe: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('POST /api/v1/events refuses bad input, naming the field, and stores nothing', () => {
  const failure = { type: 'failure', assetId: 'machine-3', at: '2015-02-01T06:00:00Z', component: 'comp2' };
  const cases: [string, unknown, string[], RegExp][] = [
    ['an unknown asset', { ...failure, assetId: 'machine-99' }, ['body.assetId'], /unknown asset "machine-99"/],
    ['an end before the start', { ...failure, end: '2015-02-01T05:00:00Z' }, ['body.end'], /must be after at/],
    ['a time of the wrong type', { ...failure, at: 1422770400000 }, ['body.at'], /body\.at/],
    ['a malformed time', { ...failure, at: 'yesterday' }, ['body.at'], /body\.at/],
    ['an unknown type', { ...failure, type: 'explosion' }, ['body.type'], /body\.type/],
    ['a downtime without a cause', { type: 'downtime', assetId: 'machine-3', start: '2015-02-01T06:00:00Z', end: '2015-02-01T08:00:00Z' }, ['body.cause'], /body\.cause/],
    ['an unknown field', { ...failure, severity: 3 }, ['body.severity'], /body/],
  ];
  for (const [what, body, expected, message] of cases) {
    it(`refuses ${what}`, async () => {
      const res = await post('/api/v1/events', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('REQUEST_INVALID');
      expect(fields(res.body)).toEqual(expected);
      expect(res.body.error.message).toMatch(message);
      expect(stored()).toBe(0);
    });
  }

  it('refuses an interval overlapping a stored one, and a whole batch when one event is bad', async () => {
    const first = await post('/api/v1/events', { type: 'downtime', assetId: 'machine-3', start: '2015-02-03T10:00:00Z', end: '2015-02-03T12:00:00Z', cause: 'other' });
    expect(first.status).toBe(201);
    expect(stored()).toBe(1);
    const overlap = await post('/api/v1/events', { type: 'maintenance', assetId: 'machine-3', at: '2015-02-03T11:00:00+00:00', end: '2015-02-03T13:00:00Z' });
    expect(overlap.status).toBe(400);
    expect(fields(overlap.body)).toEqual(['body.at']);
    expect(overlap.body.error.message).toMatch(/overlaps downtime evt-/);
    const batch = await post('/api/v1/events/batch', { events: [
      { ...failure, at: '2015-02-05T06:00:00Z' },
      { type: 'downtime', assetId: 'machine-3', start: '2015-02-06T10:00:00Z', end: '2015-02-06T09:00:00Z', cause: 'planned' },
      { type: 'downtime', assetId: 'machine-3', start: '2015-02-07T10:00:00Z', end: '2015-02-07T12:00:00Z', cause: 'planned' },
      { type: 'downtime', assetId: 'machine-3', start: '2015-02-07T11:00:00Z', end: '2015-02-07T13:00:00Z', cause: 'planned' },
    ] });
    expect(batch.status).toBe(400);
    expect(fields(batch.body)).toEqual(['body.events.1.end', 'body.events.3.start']);
    expect(stored()).toBe(1);
  });

  it('needs a token with the events:record permission', async () => {
    const res = await c.app.http.app.inject({ method: 'POST', url: '/api/v1/events', payload: failure });
    expect(res.statusCode).toBe(401);
    expect(stored()).toBe(1);
  });
});

describe('stored events reach the asset\'s device', () => {
  it('sends a failure to the online device as a machine-event command and records the delivery', async () => {
    const res = await post('/api/v1/events', { type: 'failure', assetId: 'machine-3', at: '2015-02-10T06:00:00Z', component: 'comp1', note: 'bearing' });
    expect(res.status).toBe(201);
    const { eventId } = res.body.event as { eventId: string };
    const command = await until('the command', () => devices[0]!.commands.find((k) => k.type === 'machine-event' && k.event.eventId === eventId));
    expect(command).toMatchObject({ id: `me-${eventId}`, event: { assetId: 'machine-3', type: 'failure', at: '2015-02-10T06:00:00.000Z', component: 'comp1', source: 'operator', note: 'bearing' } });
    const delivered = await until('delivery', () => {
      const e = c.app.insights.api.eventsRepo().get(eventId)!;
      return e.deliveries.every((d) => d.deliveredAt !== null) ? e : undefined;
    });
    expect(delivered.deliveries).toEqual([expect.objectContaining({ deviceId: 'gw-3', type: 'failure', attempts: 1, lastError: null })]);
    const audit = c.app.fleet.audit.list({ action: 'event.record' }).entries;
    expect(audit[0]).toMatchObject({ actor: 'admin', target: { type: 'asset', id: 'machine-3' } });
  });

  it('holds a downtime for an offline device and sends its start and end once the device is back online', async () => {
    const res = await post('/api/v1/events', { type: 'downtime', assetId: 'machine-4', start: '2015-03-01T00:00:00Z', end: '2015-03-01T04:30:00Z', cause: 'planned', source: 'cmms' });
    expect(res.body).toMatchObject({ event: { type: 'downtime' } });
    expect(res.status).toBe(201);
    const { eventId } = res.body.event as { eventId: string };
    await c.app.insights.forwarder.deliver(c.app.insights.api.eventsRepo().pending('machine-4'));
    expect(c.app.insights.api.eventsRepo().get(eventId)!.deliveries.map((d) => d.deliveredAt)).toEqual([null, null]);
    const back = await connectDevice(c.mqttUrl, 'gw-4', { answer: true });
    devices.push(back);
    await back.publish('status', fx.status('gw-4', { assetId: 'machine-4' }));
    const view = await until('both parts delivered', () => {
      const e = c.app.insights.api.eventsRepo().get(eventId)!;
      return e.deliveries.every((d) => d.deliveredAt !== null) ? e : undefined;
    });
    expect(view.deliveries.map((d) => [d.type, d.at, d.deviceId])).toEqual([
      ['downtime-start', '2015-03-01T00:00:00.000Z', 'gw-4'], ['downtime-end', '2015-03-01T04:30:00.000Z', 'gw-4'],
    ]);
    expect(back.commands.map((k) => k.type === 'machine-event' && [k.event.eventId, k.event.type, k.event.cause ?? null])).toEqual([
      [eventId, 'downtime-start', 'planned'], [`${eventId}:end`, 'downtime-end', null],
    ]);
    const list = await c.app.http.app.inject({ method: 'GET', url: '/api/v1/events?assetId=machine-4' });
    expect(list.json()).toMatchObject({ count: 1, events: [{ eventId, type: 'downtime', cause: 'planned', source: 'cmms', enteredBy: 'admin' }] });
  });
});

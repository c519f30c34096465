import { beforeAll, describe, expect, it } from 'vitest';
import { PdmError, upKinds } from '@pdm/protocol';
import { DevicesRepo } from '../db/devices-repo.js';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { RecordsRepo } from '../db/records-repo.js';
import * as fx from '../testing/fixtures.js';
import { captureLogs } from '../testing/log-capture.js';
import { suiteDatabase } from '../testing/test-database.js';
import { suiteHttpApp } from '../testing/test-http-app.js';
import { buildHttpApp } from './build-app.js';
import { toErrorResponse } from './errors.js';
import { apiContext } from './http-server.js';

const { log, lines } = captureLogs('debug');
const database = suiteDatabase({ log });
const { health, get } = suiteHttpApp(database, log);

beforeAll(() => {
  const db = database.handle;
  const devices = new DevicesRepo(db);
  const records = new RecordsRepo(db);
  const stats = new IngestStatsRepo(db);
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  devices.applyStatus(fx.status('gw-a', { lastSeq: 9, assetId: 'machine-1', site: 'plant-a' }), t0, true);
  devices.applyStatus(fx.status('gw-b', { site: 'plant-b', assetClass: 'model4' }), t0, true);
  devices.applyStatus({ ...fx.will('gw-b'), site: 'plant-b', assetClass: 'model4' }, t0 + 1000, true);
  db.transaction(() => {
    for (const seq of [1, 2, 3, 5]) records.store('predictions', fx.predictions('gw-a', seq, 3), `h${seq}`, t0);
    records.store('alerts', fx.alert('gw-a', 6), 'h6', t0);
    records.store('events', fx.event('gw-a', 7), 'h7', t0);
    records.store('metrics', fx.metrics('gw-a', 8), 'h8', t0);
  })();
  stats.addInvalid('gw-a', 'predictions', 'PAYLOAD_INVALID', { count: 2, firstAt: t0, lastAt: t0 + 5, lastMessage: 'predictions: score: expected number' });
  stats.addInvalid('gw-a', 'status', 'PAYLOAD_NOT_JSON', { count: 1, firstAt: t0, lastAt: t0, lastMessage: 'status is not UTF-8 JSON' });
});

describe('GET /api/v1/devices', () => {
  it('lists devices with presence, models, seq progress, heartbeat counters and invalid counts', async () => {
    const { status, body } = await get('/api/v1/devices');
    expect(status).toBe(200);
    expect(body.count).toBe(2);
    const a = body.devices[0];
    expect(Object.keys(a).sort()).toEqual([
      'agentVersion', 'assetClass', 'assetId', 'bootId', 'counters', 'delivery', 'deviceId', 'firstSeenAt', 'invalidPayloads',
      'lastSeenAt', 'lastSeqReported', 'models', 'reconcile', 'restartState', 'seq', 'site', 'state', 'stateChangedAt', 'stateReason',
      'statusTime',
    ]);
    expect(a).toMatchObject({
      deviceId: 'gw-a', assetId: 'machine-1', assetClass: 'model3', site: 'plant-a', state: 'online', lastSeqReported: 9,
      lastSeenAt: '2026-01-01T00:00:00.000Z', models: [{ name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active' }],
      seq: { contiguous: 3, max: 8, stored: 7, missing: 1, behind: 6 },
      counters: { outboxDepth: 3, outboxBytes: 900, dropped: { 'telemetry-evicted': 2 } },
      invalidPayloads: 3, reconcile: null,
      // an agent from before the restart-state fields: not reported
      restartState: null,
    });
    expect(body.devices[1]).toMatchObject({ deviceId: 'gw-b', state: 'offline', stateReason: 'lost', seq: { max: 0 } });
  });

  it('filters by state, site and asset class', async () => {
    expect((await get('/api/v1/devices?state=offline')).body.devices.map((d: { deviceId: string }) => d.deviceId)).toEqual(['gw-b']);
    expect((await get('/api/v1/devices?site=plant-a')).body.count).toBe(1);
    expect((await get('/api/v1/devices?assetClass=model4&state=online')).body.count).toBe(0);
  });

  it('answers 400 REQUEST_INVALID naming the field', async () => {
    const bad = await get('/api/v1/devices?state=sleeping');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('REQUEST_INVALID');
    expect(bad.body.error.context.issues[0].field).toBe('query.state');
    expect(bad.body.error.message).toMatch(/^query\.state: /);
    const unknown = await get('/api/v1/devices?colour=red');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.context.issues[0].field).toBe('query.colour');
  });
});

describe('GET /api/v1/devices/:deviceId', () => {
  it('shows the device with its last predictions, alerts, events, metrics and invalid payloads by reason', async () => {
    const { status, body } = await get('/api/v1/devices/gw-a?predictions=4');
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual([
      'alerts', 'deployments', 'device', 'events', 'invalidPayloads', 'metrics', 'predictions', 'seqGaps', 'stored',
    ]);
    expect(body.seqGaps).toEqual({ gaps: [{ first: 4, last: 4 }], truncated: false });
    expect(body.device.delivery).toMatchObject({ lastDeliveredSeq: 3, dropped: { total: 2, byReason: { 'telemetry-evicted': 2 } } });
    // seqs 1, 2, 3 and 5 each hold a batch of 3 predictions
    expect(body.stored).toEqual({ records: { predictions: 4, alerts: 1, events: 1, metrics: 1 }, predictionRows: 12 });
    expect(body.device.deviceId).toBe('gw-a');
    expect(body.predictions.map((p: { seq: number; idx: number }) => `${p.seq}.${p.idx}`)).toEqual(['5.2', '5.1', '5.0', '3.2']);
    expect(body.predictions[0]).toMatchObject({ model: { name: 'azure-pdm-failure-24h', version: '1.0.0' }, role: 'active', alert: false, threshold: 0.42 });
    expect(body.alerts).toHaveLength(1);
    expect(body.events[0]).toMatchObject({ seq: 7, type: 'failure', component: 'comp4' });
    expect(body.deployments).toEqual([]);
    expect(body.metrics).toMatchObject({ windows: 1, readings: 24, inferences: 23, alerts: 1, rejectedReadings: { 'non-finite': 1 }, latencyP95MaxMs: 0.2 });
    expect(body.invalidPayloads).toMatchObject({
      total: 3, byCode: { PAYLOAD_INVALID: 2, PAYLOAD_NOT_JSON: 1 }, byKind: { predictions: 2, status: 1 },
    });
    expect(body.invalidPayloads.entries[0]).toMatchObject({
      kind: 'predictions', code: 'PAYLOAD_INVALID', count: 2, lastAt: '2026-01-01T00:00:00.005Z',
    });
  });

  it('answers 404 NOT_FOUND for an unknown device and 400 for a malformed id or limit', async () => {
    const missing = await get('/api/v1/devices/gw-zzz');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { code: 'NOT_FOUND', message: 'no such device', context: { deviceId: 'gw-zzz' } } });
    const badId = await get('/api/v1/devices/bad%20id');
    expect(badId.status).toBe(400);
    expect(badId.body.error.context.issues[0].field).toBe('params.deviceId');
    for (const q of ['predictions=abc', 'alerts=-1', 'events=1001', 'deployments=1.5']) {
      const res = await get(`/api/v1/devices/gw-a?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.context.issues[0].field).toBe(`query.${q.split('=')[0]}`);
    }
  });
});

describe('GET /api/v1/ingest, /healthz and unknown routes', () => {
  it('totals stored, duplicates and invalid payloads by code', async () => {
    const { body } = await get('/api/v1/ingest');
    expect(Object.keys(body.byKind).sort()).toEqual([...upKinds].sort());
    expect(body.invalid).toEqual({ total: 3, byCode: { PAYLOAD_INVALID: 2, PAYLOAD_NOT_JSON: 1 }, byKind: { predictions: 2, status: 1 } });
    expect(body.invalidByDevice).toEqual([{ deviceId: 'gw-a', count: 3 }]);
    expect(body).toMatchObject({ stored: 0, duplicates: 0, conflicts: 0 });
  });

  it('healthz is 200 when every check passes and 503 naming the failing one', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok', checks: { db: { ok: true }, broker: { ok: true } } } });
    health.broker = () => ({ ok: false, detail: 'not running' });
    expect(await get('/healthz')).toEqual({
      status: 503, body: { status: 'degraded', checks: { db: { ok: true }, broker: { ok: false, detail: 'not running' } } },
    });
  });

  it('answers unknown routes with NOT_FOUND in the same error body', async () => {
    const res = await get('/api/v1/nothing');
    expect(res).toEqual({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'no such route', context: { method: 'GET', url: '/api/v1/nothing' } } } });
  });
});

describe('toErrorResponse', () => {
  it('keeps PdmError codes, maps client errors, hides internal ones', () => {
    expect(toErrorResponse(new PdmError('NOT_FOUND', 'x', { context: { a: 1 } }))).toEqual({
      status: 404, body: { error: { code: 'NOT_FOUND', message: 'x', context: { a: 1 } } },
    });
    const fastifyError = Object.assign(new Error('Body is not valid JSON'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
    expect(toErrorResponse(fastifyError)).toMatchObject({ status: 400, body: { error: { code: 'REQUEST_INVALID', context: { fastifyCode: 'FST_ERR_CTP_INVALID_JSON_BODY' } } } });
    expect(toErrorResponse(Object.assign(new Error('too big'), { statusCode: 413 })).body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const internal = toErrorResponse(new TypeError('secret detail'));
    expect(internal).toEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error', context: {} } } });
  });

  it('logs a 500 with its cause, and the response does not leak it', async () => {
    const failing = buildHttpApp({ ...apiContext(database, health), devices: { list: () => { throw new TypeError('secret detail'); } } as never }, log);
    const res = await failing.inject({ url: '/api/v1/devices' });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret');
    expect(lines.some((l) => l.msg === 'request failed' && JSON.stringify(l).includes('secret detail'))).toBe(true);
    await failing.close();
  });
});

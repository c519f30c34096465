import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePayload, parseTopic, recordKinds, topicSpecs, upKinds, upTopic, type UpKind } from '@pdm/protocol';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { MAX_ATTEMPTS } from './ingest.js';
import { RecordsRepo } from '../db/records-repo.js';
import { connectDevice, type TestDevice } from '../testing/device-client.js';
import * as fx from '../testing/fixtures.js';
import { exampleFor } from '../testing/protocol-examples.js';
import { startTestController, type TestController } from '../testing/harness.js';
import { holdWriteLock } from '../testing/write-lock.js';

const MARKER = 'HOSTILE-PAYLOAD-MARKER';

let tc: TestController;
let device: TestDevice;
beforeAll(async () => {
  tc = await startTestController();
  device = await connectDevice(tc.mqttUrl, 'd1', { withWill: false });
});
afterAll(async () => {
  await device.end();
  await tc.stop();
});

const db = () => tc.app.database.handle;
const count = (sql: string, ...args: unknown[]) => db().prepare(sql).pluck().get(...args) as number;
const stats = () => new IngestStatsRepo(db());

/** A valid payload of any upstream kind for a device: the protocol README's example, moved to it. */
const valid = (kind: UpKind, deviceId = 'd1'): Record<string, unknown> => exampleFor(kind, deviceId, 1);

/** A top-level number of the payload (JSON cannot say Infinity, but 1e999 parses to it), else deviceId. */
const numericField = (v: Record<string, unknown>): string => Object.keys(v).find((k) => typeof v[k] === 'number') ?? 'deviceId';

/** Hostile and malformed payloads for one kind, each with the error code it must be counted under. */
function hostile(kind: UpKind): { name: string; bytes: Buffer; code: string }[] {
  const v = valid(kind);
  const json = (o: unknown) => Buffer.from(JSON.stringify(o));
  const cap = topicSpecs[kind].maxBytes;
  const depth = 3 * Math.floor(cap / 6) - 30; // a multiple of 3, nested arrays or objects below the cap
  return [
    { name: 'malformed JSON', bytes: Buffer.from('{"deviceId": "d1", '), code: 'PAYLOAD_NOT_JSON' },
    { name: 'binary garbage', bytes: Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc3]), randomBytes(512)]), code: 'PAYLOAD_NOT_JSON' },
    { name: 'empty', bytes: Buffer.alloc(0), code: 'PAYLOAD_NOT_JSON' },
    { name: 'oversized', bytes: Buffer.from(JSON.stringify({ ...v, note: MARKER.repeat(Math.ceil(cap / MARKER.length)) })), code: 'PAYLOAD_TOO_LARGE' },
    { name: 'empty object', bytes: json({}), code: 'PAYLOAD_INVALID' },
    { name: 'null', bytes: json(null), code: 'PAYLOAD_INVALID' },
    { name: 'array', bytes: json([v]), code: 'PAYLOAD_INVALID' },
    { name: 'deep array nesting', bytes: Buffer.from('['.repeat(depth) + ']'.repeat(depth)), code: 'PAYLOAD_INVALID' },
    { name: 'deep object nesting', bytes: Buffer.from(`{"deviceId":${'{"a":'.repeat(depth / 3)}1${'}'.repeat(depth / 3)}}`), code: 'PAYLOAD_INVALID' },
    { name: '__proto__ key', bytes: Buffer.from(JSON.stringify(v).replace(/^\{/, '{"__proto__":{"polluted":true},')), code: 'PAYLOAD_INVALID' },
    { name: 'constructor key', bytes: Buffer.from(JSON.stringify(v).replace(/^\{/, '{"constructor":{"prototype":{"polluted":true}},')), code: 'PAYLOAD_INVALID' },
    { name: 'huge string field', bytes: json({ ...v, deviceId: MARKER + 'x'.repeat(cap - 1000) }), code: 'PAYLOAD_INVALID' },
    { name: 'wrong types', bytes: json({ ...v, time: 12, deviceId: ['d1'] }), code: 'PAYLOAD_INVALID' },
    { name: 'non-finite number', bytes: Buffer.from(JSON.stringify({ ...v, [numericField(v)]: 'INF' }).replace('"INF"', '1e999')), code: 'PAYLOAD_INVALID' },
    ...('deviceId' in v ? [{ name: 'deviceId of another device', bytes: json(valid(kind, 'd2')), code: 'DEVICE_MISMATCH' }] : []),
  ];
}

describe('ingest', () => {
  it('stores each record once although it arrives twice, counting the second as a duplicate', async () => {
    for (const { kind, payload } of fx.oneOfEach('good')) {
      await device.publishRaw(upTopic('good', kind), encodePayload(kind, payload as never));
      await device.publishRaw(upTopic('good', kind), encodePayload(kind, payload as never));
    }
    await tc.settle();
    expect(count("SELECT COUNT(*) FROM records WHERE device_id = 'good'")).toBe(5);
    expect(count("SELECT SUM(rows) FROM prediction_batches WHERE device_id = 'good'")).toBe(3);
    const totals = stats().totals();
    for (const { kind } of fx.oneOfEach('good')) {
      expect(totals.byKind[kind]).toMatchObject({ accepted: 2, stored: 1, duplicates: 1, conflicts: 0 });
    }
    expect(new RecordsRepo(db()).progress('good')).toEqual({ contiguous: 5, max: 5, stored: 5, missing: 0 });
  });

  it('stores a record of every kind the protocol declares, in its own table or kept whole', async () => {
    const dedicated: Record<string, string> = {
      predictions: 'prediction_batches', alerts: 'alerts', metrics: 'metric_windows', events: 'machine_events', deployment: 'deployment_status',
    };
    let seq = 0;
    for (const kind of recordKinds) {
      seq += 1;
      const payload = exampleFor(kind, 'every', seq);
      await device.publishRaw(upTopic('every', kind), Buffer.from(JSON.stringify(payload)));
      await tc.settle();
      expect(stats().invalidForDevice('every').entries, kind).toEqual([]);
      const table = dedicated[kind];
      if (table === undefined) {
        const kept = db().prepare("SELECT payload FROM record_payloads WHERE device_id = 'every' AND seq = ?").pluck().get(seq) as string;
        expect(JSON.parse(kept), kind).toEqual(payload);
      } else {
        expect(count(`SELECT COUNT(*) FROM ${table} WHERE device_id = 'every' AND seq = ?`, seq), kind).toBeGreaterThan(0);
      }
    }
    expect(new RecordsRepo(db()).progress('every')).toEqual({ contiguous: seq, max: seq, stored: seq, missing: 0 });
  });

  it('counts a reused seq with other content as a conflict and keeps the first', async () => {
    await device.publishRaw(upTopic('conf', 'events'), encodePayload('events', fx.event('conf', 1, { component: 'comp1' })));
    await device.publishRaw(upTopic('conf', 'events'), encodePayload('events', fx.event('conf', 1, { component: 'comp2' })));
    await tc.settle();
    expect(db().prepare("SELECT component FROM machine_events WHERE device_id = 'conf'").pluck().all()).toEqual(['comp1']);
    expect(tc.lines.some((l) => l.msg === 'seq reused with different content; first kept' && l.deviceId === 'conf')).toBe(true);
  });

  it('refuses malformed, oversized, schema-invalid and hostile payloads on every upstream topic, counted by reason', async () => {
    const expected = new Map<string, number>();
    for (const kind of upKinds) {
      for (const h of hostile(kind)) {
        await device.publishRaw(upTopic('d1', kind), h.bytes);
        const key = `${kind}/${h.code}`;
        expected.set(key, (expected.get(key) ?? 0) + 1);
      }
    }
    await tc.settle();

    const entries = stats().invalidForDevice('d1').entries;
    const got = new Map(entries.map((e) => [`${e.kind}/${e.code}`, e.count]));
    expect(got).toEqual(expected);
    // nothing of d1 (or of d2, named inside the mismatched payloads) was stored or even registered
    expect(count("SELECT COUNT(*) FROM records WHERE device_id IN ('d1', 'd2')")).toBe(0);
    expect(count("SELECT COUNT(*) FROM devices WHERE device_id IN ('d1', 'd2')")).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const warns = tc.lines.filter((l) => l.msg === 'invalid payload refused');
    for (const code of ['PAYLOAD_NOT_JSON', 'PAYLOAD_TOO_LARGE', 'PAYLOAD_INVALID', 'DEVICE_MISMATCH']) {
      expect(warns.some((l) => l.code === code && l.level === 40 && typeof l.topic === 'string'), code).toBe(true);
    }
    // the log names code and topic, never the payload
    expect(tc.lines.some((l) => JSON.stringify(l).includes(MARKER))).toBe(false);
    for (const l of warns) expect(JSON.stringify(l).length).toBeLessThan(1500);
  });

  it('counts a topic whose device level is not a valid deviceId under no device', async () => {
    await device.publishRaw('pdm/v1/bad device!/up/status', encodePayload('status', fx.status('d3')));
    await tc.settle();
    const totals = stats().totals();
    expect(totals.invalidByDevice).toContainEqual({ deviceId: '', count: 1 });
    expect(totals.invalid.byCode.TOPIC_INVALID).toBe(1);
  });

  it('keeps serving after the hostile traffic: a good record is stored and health is ok', async () => {
    await device.publishRaw(upTopic('after', 'alerts'), encodePayload('alerts', fx.alert('after', 1)));
    await tc.settle();
    expect(count("SELECT COUNT(*) FROM alerts WHERE device_id = 'after'")).toBe(1);
    const res = await tc.app.http.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok' });
    const ingest = await tc.app.http.app.inject({ method: 'GET', url: '/api/v1/ingest' });
    expect(ingest.json().invalid.total).toBeGreaterThanOrEqual(upKinds.length * hostile('status').length);
  });

  it('rolls a record back whole when storing fails, and stores it when retried', async () => {
    const message = { topic: upTopic('tx', 'predictions'), parsed: parseTopic(upTopic('tx', 'predictions')), payload: encodePayload('predictions', fx.predictions('tx', 1, 4)), retain: false };
    db().exec('ALTER TABLE prediction_batches RENAME TO prediction_batches_away');
    try {
      await expect(tc.app.ingest.handle(message)).rejects.toThrow();
      expect(count("SELECT COUNT(*) FROM records WHERE device_id = 'tx'")).toBe(0);
    } finally {
      db().exec('ALTER TABLE prediction_batches_away RENAME TO prediction_batches');
    }
    await tc.app.ingest.handle(message);
    expect(count("SELECT rows FROM prediction_batches WHERE device_id = 'tx'")).toBe(4);
    expect(new RecordsRepo(db()).progress('tx')).toMatchObject({ contiguous: 1, stored: 1 });
  });

  it('leaves a status unacknowledged while another connection holds the write lock, never counting it toward MAX_ATTEMPTS', async () => {
    const message = { topic: upTopic('busy', 'status'), parsed: parseTopic(upTopic('busy', 'status')), payload: Buffer.from(JSON.stringify(valid('status', 'busy'))), retain: false };
    db().pragma('busy_timeout = 100');
    const lock = await holdWriteLock(tc.app.database.file);
    try {
      for (let i = 1; i <= MAX_ATTEMPTS; i += 1) {
        await expect(tc.app.ingest.handle(message)).rejects.toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/) });
      }
    } finally {
      await lock.release();
      db().pragma('busy_timeout = 2000');
    }
    await expect(tc.app.ingest.handle(message)).resolves.toBeUndefined();
    tc.app.ingest.flushPending();
    expect(stats().invalidForDevice('busy').byCode.INTERNAL).toBeUndefined();
    expect(count("SELECT COUNT(*) FROM devices WHERE device_id = 'busy'")).toBe(1);
  });

  it('gives up on a message that keeps failing: counted as INTERNAL and acknowledged', async () => {
    const message = { topic: upTopic('poison', 'alerts'), parsed: parseTopic(upTopic('poison', 'alerts')), payload: encodePayload('alerts', fx.alert('poison', 1)), retain: false };
    db().exec('ALTER TABLE alerts RENAME TO alerts_away');
    try {
      for (let i = 1; i < MAX_ATTEMPTS; i += 1) await expect(tc.app.ingest.handle(message)).rejects.toThrow();
      await expect(tc.app.ingest.handle(message)).resolves.toBeUndefined();
    } finally {
      db().exec('ALTER TABLE alerts_away RENAME TO alerts');
    }
    tc.app.ingest.flushPending();
    expect(stats().invalidForDevice('poison').byCode).toEqual({ INTERNAL: 1 });
    expect(count("SELECT COUNT(*) FROM records WHERE device_id = 'poison'")).toBe(0);
  });
});

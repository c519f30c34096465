/**
 * The fleet summary and the paged device list (GET /api/v1/fleet/summary, ?limit&after) over a real
 * SQLite file through the HTTP app: the summary's counts and sums equal those added up from the full
 * device list (what the dashboard computed in the browser before), its top devices are those of the
 * list sorted by outbox depth (a device that dropped a record is not ranked by its seq gap), and bad
 * values answer 400 with zod's words for the field.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../db/devices-repo.js';
import { DevicesRepo } from '../../db/devices-repo.js';
import { RecordsRepo } from '../../db/records-repo.js';
import * as fx from '../../testing/fixtures.js';
import { captureLogs } from '../../testing/log-capture.js';
import { suiteDatabase } from '../../testing/test-database.js';
import { suiteHttpApp } from '../../testing/test-http-app.js';

const { log } = captureLogs('warn');
const database = suiteDatabase({ log });
const { get } = suiteHttpApp(database, log);
const t0 = Date.parse('2026-01-01T00:00:00.000Z');

beforeAll(() => {
  const devices = new DevicesRepo(database.handle);
  const records = new RecordsRepo(database.handle);
  // 30 devices on two sites: backlogs that differ, some with records behind, some offline, one never
  // heard of but for its id (no counters, no models), one running a second model in shadow
  for (let i = 1; i <= 30; i++) {
    const id = `gw-${String(i).padStart(2, '0')}`;
    const dropped: Record<string, number> = i % 4 === 0 ? { 'cap-age:predictions': i, 'disk-full:metrics': 1 } : {};
    // every eighth device's restart state frozen (since a minute that differs), the next one's stored, the rest an older agent's
    const restart = i % 8 === 0 ? { statesNotStored: 1, stateStoredAt: null, stateNotStoredSince: new Date(t0 - ((i * 7) % 11) * 60_000).toISOString() }
      : i % 8 === 1 ? { statesNotStored: 0, stateStoredAt: new Date(t0).toISOString(), stateNotStoredSince: null } : {};
    const counters = { ...fx.status(id).counters!, outboxDepth: (i * 37) % 101, dropped, ...restart };
    const models = i % 5 === 0
      ? [{ ...fx.status(id).models[0]!, role: 'active' as const }, { name: 'other-model', version: '2.0.0', role: 'shadow' as const }]
      : fx.status(id).models;
    devices.applyStatus(fx.status(id, { site: i % 3 === 0 ? 'plant-b' : 'plant-a', lastSeq: i % 7 === 0 ? 50 + i : 0, counters, models }), t0, true);
    if (i % 6 === 0) devices.applyStatus({ ...fx.will(id), site: i % 3 === 0 ? 'plant-b' : 'plant-a' }, t0 + 1000, true);
  }
  devices.touch('gw-99', t0, false);
  // gw-07 stored seqs 1..5 of its 57: 52 behind
  database.handle.transaction(() => {
    for (let seq = 1; seq <= 5; seq++) records.store('metrics', fx.metrics('gw-07', seq), `h${seq}`, t0);
  })();
});

const range = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_v, i) => first + i);
const depthOf = (d: DeviceView): number => d.counters?.outboxDepth ?? 0;

describe('GET /api/v1/fleet/summary', () => {
  it('counts, sums and lists the top devices by outbox depth as the full device list adds them up', async () => {
    const all = (await get('/api/v1/devices')).body.devices as DeviceView[];
    expect(all).toHaveLength(31);
    const { status, body } = await get('/api/v1/fleet/summary?top=5');
    expect(status).toBe(200);
    const count = (state: string) => all.filter((d) => d.state === state).length;
    expect(body.count).toBe(31);
    expect(body.byState).toEqual({ online: count('online'), offline: count('offline'), unknown: count('unknown') });
    expect(body.byState.offline).toBe(5);
    expect(body.totals).toEqual({
      outboxDepth: all.reduce((s, d) => s + (d.counters?.outboxDepth ?? 0), 0),
      dropped: all.reduce((s, d) => s + d.delivery.dropped.total, 0),
    });
    const expected = [...all].sort((a, b) => depthOf(b) - depthOf(a) || (a.deviceId < b.deviceId ? -1 : 1)).slice(0, 5);
    expect(body.top).toEqual(expected.map((d) => ({
      deviceId: d.deviceId, assetId: d.assetId, site: d.site, state: d.state, outboxDepth: depthOf(d),
      dropped: d.delivery.dropped.total, behind: d.seq.behind ?? 0,
    })));
    const everyDevice = (await get('/api/v1/fleet/summary?top=100')).body.top as { deviceId: string }[];
    expect(everyDevice.find((d) => d.deviceId === 'gw-07')).toMatchObject({ outboxDepth: 57, behind: 52 });
    expect(body.models).toEqual([
      { name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active', devices: 30 },
      { name: 'other-model', version: '2.0.0', role: 'shadow', devices: 6 },
    ]);
    expect((await get('/api/v1/fleet/summary')).body.top).toHaveLength(20);
    const frozen = all.filter((d) => d.restartState?.frozen === true)
      .sort((a, b) => a.restartState!.notStoredSince!.localeCompare(b.restartState!.notStoredSince!) || (a.deviceId < b.deviceId ? -1 : 1));
    expect(frozen.map((d) => d.deviceId)).toEqual(['gw-24', 'gw-16', 'gw-08']);
    expect(all.filter((d) => d.restartState?.frozen === false)).toHaveLength(4);
    expect(body.restartState).toEqual({
      frozen: 3,
      longest: frozen.map((d) => ({ deviceId: d.deviceId, state: d.state, notStoredSince: d.restartState!.notStoredSince, storedAt: null })),
    });
    expect((await get('/api/v1/fleet/summary?top=1')).body.restartState).toMatchObject({ frozen: 3, longest: [{ deviceId: 'gw-24' }] });
  });

  it('filters by site and asset class', async () => {
    const { body } = await get('/api/v1/fleet/summary?site=plant-b&top=100');
    const plantB = (await get('/api/v1/devices?site=plant-b')).body;
    expect(body.count).toBe(plantB.count);
    expect(body.top.map((d: { deviceId: string }) => d.deviceId).sort()).toEqual(plantB.devices.map((d: DeviceView) => d.deviceId));
    expect((await get('/api/v1/fleet/summary?assetClass=none-such')).body).toEqual({
      count: 0, byState: { online: 0, offline: 0, unknown: 0 }, totals: { outboxDepth: 0, dropped: 0 }, models: [], top: [],
      restartState: { frozen: 0, longest: [] },
    });
  });

  it('answers 400 REQUEST_INVALID with zod\'s words for a bad top or an unknown field', async () => {
    for (const [q, field, message] of [
      ['top=0', 'query.top', 'Too small: expected number to be >=1'],
      ['top=101', 'query.top', 'Too big: expected number to be <=100'],
      ['top=ten', 'query.top', 'must be an integer in digits, such as 20'],
      ['top=1e2', 'query.top', 'must be an integer in digits, such as 20'],
      ['top=', 'query.top', 'must be an integer in digits, such as 20'],
      ['state=online', 'query.state', 'Unrecognized key: "state"'],
    ]) {
      const res = await get(`/api/v1/fleet/summary?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.code).toBe('REQUEST_INVALID');
      expect(res.body.error.message, q).toBe(`${field}: ${message}`);
    }
  });
});

describe('GET /api/v1/fleet/summary: records waiting, not seq gaps', () => {
  const gapDatabase = suiteDatabase({ log });
  const gap = suiteHttpApp(gapDatabase, log);

  // gw-drop evicted seq 10 (cap-bytes) and delivered all else: its contiguous seq stays 9, so lastSeq -
  // contiguous is 391 for good although 2 records wait on it. gw-off went offline with 150 records
  // queued (seqs 151..300), which lastSeq - contiguous counts a second time. gw-busy has 20 queued.
  beforeAll(() => {
    const devices = new DevicesRepo(gapDatabase.handle);
    const records = new RecordsRepo(gapDatabase.handle);
    const counters = (outboxDepth: number, dropped: Record<string, number> = {}) => ({ ...fx.status('x').counters!, outboxDepth, dropped });
    const seeded: [string, number, number, Record<string, number>, number[]][] = [
      ['gw-drop', 400, 2, { 'cap-bytes:metrics': 1 }, [...range(1, 9), ...range(11, 400)]],
      ['gw-off', 300, 150, {}, range(1, 150)],
      ['gw-busy', 50, 20, {}, range(1, 30)],
    ];
    for (const [id, lastSeq, depth, dropped, stored] of seeded) {
      devices.applyStatus(fx.status(id, { lastSeq, counters: counters(depth, dropped) }), t0, true);
      gapDatabase.handle.transaction(() => {
        for (const seq of stored) records.store('metrics', fx.metrics(id, seq), `${id}-${seq}`, t0);
      })();
    }
    devices.applyStatus(fx.will('gw-off'), t0 + 1000, true);
  });

  it('ranks the offline device with records queued first and the device with a dropped seq by its 2 waiting records', async () => {
    const body = (await gap.get('/api/v1/fleet/summary')).body;
    expect(body.totals).toEqual({ outboxDepth: 172, dropped: 1 });
    expect(body.top).toEqual([
      { deviceId: 'gw-off', assetId: 'asset-gw-off', site: 'plant-a', state: 'offline', outboxDepth: 150, dropped: 0, behind: 150 },
      { deviceId: 'gw-busy', assetId: 'asset-gw-busy', site: 'plant-a', state: 'online', outboxDepth: 20, dropped: 0, behind: 20 },
      { deviceId: 'gw-drop', assetId: 'asset-gw-drop', site: 'plant-a', state: 'online', outboxDepth: 2, dropped: 1, behind: 391 },
    ]);
  });
});

describe('GET /api/v1/devices/:deviceId', () => {
  it('answers 400 naming the field for a limit that is not an integer in digits', async () => {
    for (const q of ['predictions=1.5', 'gaps=1e2', 'events=']) {
      const res = await get(`/api/v1/devices/gw-01?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.message, q).toBe(`query.${q.split('=')[0]}: must be an integer in digits, such as 20`);
    }
  });
});

describe('GET /api/v1/devices?limit&after', () => {
  /** Every page of `query`, following `next` from the page after `from` (from the first without it). */
  const pages = async (query: string, from?: string) => {
    const out: { count: number; devices: DeviceView[]; next?: string }[] = [];
    let after = from === undefined ? '' : `&after=${from}`;
    for (;;) {
      const { status, body } = await get(`/api/v1/devices?${query}${after}`);
      expect(status).toBe(200);
      out.push(body);
      if (body.next === undefined) return out;
      after = `&after=${body.next}`;
    }
  };

  it('pages the filtered list by deviceId after the previous page\'s next, count staying every matching device', async () => {
    const all = (await get('/api/v1/devices')).body;
    expect(all.next).toBeUndefined();
    const first = (await get('/api/v1/devices?limit=7')).body;
    expect(first).toMatchObject({ count: 31, next: 'gw-07' });
    expect(first.devices).toEqual(all.devices.slice(0, 7));
    const walked = await pages('limit=7');
    expect(walked.map((p) => p.devices.length)).toEqual([7, 7, 7, 7, 3]);
    expect(walked.map((p) => p.count)).toEqual([31, 31, 31, 31, 31]);
    expect(walked.flatMap((p) => p.devices)).toEqual(all.devices);
    // a last page that is exactly full has no next either: the query reads one row past it
    expect((await get('/api/v1/devices?limit=31')).body.next).toBeUndefined();
    const offline = (await get('/api/v1/devices?state=offline&limit=2&after=gw-24')).body;
    expect(offline).toMatchObject({ count: 5 });
    expect(offline.devices.map((d: DeviceView) => d.deviceId)).toEqual(['gw-30']);
    expect(offline.next).toBeUndefined();
    expect((await get('/api/v1/devices?limit=5&after=gw-99')).body).toEqual({ count: 31, devices: [] });
  });

  it('answers 400 for a bad limit or after, and an after without a limit', async () => {
    for (const [q, message] of [
      ['limit=0', 'query.limit: Too small: expected number to be >=1'],
      ['limit=1.5', 'query.limit: must be an integer in digits, such as 20'],
      ['limit=', 'query.limit: must be an integer in digits, such as 20'],
      ['limit=10001', 'query.limit: Too big: expected number to be <=10000'],
      ['limit=5&after=gw 01', 'query.after: letters, digits, ".", "_" or "-", at most 64'],
      ['after=gw-05', 'query.after: a page after a device needs limit'],
      ['limit=5&offset=5', 'query.offset: Unrecognized key: "offset"'],
    ]) {
      const res = await get(`/api/v1/devices?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.message, q).toBe(message);
    }
  });

  // last: it adds a device to the shared database
  it('keeps later pages in place when a device sorting before the cursor is added between pages', async () => {
    const first = (await get('/api/v1/devices?site=plant-b&limit=4')).body;
    expect(first.devices.map((d: DeviceView) => d.deviceId)).toEqual(['gw-03', 'gw-06', 'gw-09', 'gw-12']);
    new DevicesRepo(database.handle).applyStatus(fx.status('gw-00', { site: 'plant-b' }), t0, true);
    const rest = await pages('site=plant-b&limit=4', first.next);
    // with an offset of 4 the second page would have begun at gw-12 again
    expect(rest.flatMap((p) => p.devices.map((d) => d.deviceId))).toEqual(['gw-15', 'gw-18', 'gw-21', 'gw-24', 'gw-27', 'gw-30']);
    expect(rest.map((p) => p.count)).toEqual([11, 11]);
  });
});

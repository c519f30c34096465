/**
 * Model quality on a whole controller: a device publishes quality and drift records over MQTT; the API
 * sums them with Wilson intervals, compares versions, feeds the rollout gate, and raises alerts
 * against the card (models/artifacts) and the previous version, POSTed to a local webhook.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DriftWindow, QualityWindow } from '@pdm/protocol';
import { connectDevice, type TestDevice } from '../testing/device-client.js';
import * as fx from '../testing/fixtures.js';
import { startTestController, type TestController } from '../testing/harness.js';
import { systemClock } from '../clock.js';
import { createLogger } from '../logger.js';
import { QualityAlerts } from './alerts.js';
import { CardBaselines } from './baselines.js';
import { QualityRepo } from './quality-repo.js';
import { wilson } from './wilson.js';

const MODEL = 'azure-pdm-failure-24h';
const cardsDir = fileURLToPath(new URL('../../../models/artifacts/', import.meta.url));
const day = (d: number) => `2015-01-0${d}T00:00:00.000Z`;

let seq = 0;
function quality(version: string, role: 'active' | 'shadow', d: number, c: [number, number, number, number], e: [number, number, number, number[]]): QualityWindow {
  return {
    deviceId: 'gw-a', seq: ++seq, time: day(d + 1), assetId: 'machine-1', model: { name: MODEL, version }, role,
    windowStart: day(d), windowEnd: day(d + 1), horizonHours: 24,
    confusion: { tp: c[0], fp: c[1], tn: c[2], fn: c[3] }, events: { caught: e[0], missed: e[1], falseAlarms: e[2], leadHours: e[3] },
  };
}

function drift(d: number, features: Record<string, number>, score: number, deviceId = 'gw-a', seqNo = ++seq): DriftWindow {
  return {
    deviceId, seq: seqNo, time: day(d + 1), assetId: 'machine-1', model: { name: MODEL, version: '1.0.0' }, role: 'active',
    windowStart: day(d), windowEnd: day(d + 1), n: 720, features, score,
  };
}

let c: TestController;
let device: TestDevice;
let hook: Server;
let hookStatus = 500;
const posted: Record<string, any>[] = [];

const startedAt = new Date().toISOString();

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (hookStatus === 200) posted.push(JSON.parse(body) as Record<string, any>);
      res.writeHead(hookStatus).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  c = await startTestController({
    flags: {
      qualityMinMatured: '100', modelCardsDir: cardsDir, qualityAlertIntervalSec: '3600', driftScoreAlerts: 'true',
      alertWebhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`,
    },
  });
  device = await connectDevice(c.mqttUrl, 'gw-a', { withWill: false });
  await device.publish('status', fx.status('gw-a', { assetId: 'machine-1' }));
  // 1.0.0 active: tp 39, fp 50, fn 21 -> precision 0.438202, recall 0.65 (card: 0.1842 and 0.6786, so no drop)
  await device.publish('quality', quality('1.0.0', 'active', 1, [20, 30, 900, 8], [2, 0, 3, [10, 20]]));
  await device.publish('quality', quality('1.0.0', 'active', 2, [19, 20, 950, 13], [1, 1, 2, [5]]));
  // 1.1.0-degraded in shadow on the same device and days: tp 12, fp 85, fn 45 -> precision 0.123711, recall 0.210526
  await device.publish('quality', quality('1.1.0-degraded', 'shadow', 1, [5, 45, 880, 25], [0, 2, 4, []]));
  await device.publish('quality', quality('1.1.0-degraded', 'shadow', 2, [7, 40, 930, 20], [1, 1, 3, [2]]));
  // median feature PSI 0.4 (the largest, 1.2, alone would not count)
  await device.publish('drift', drift(2, { volt_mean_24: 1.2, rotate_mean_3: 0.4, pressure_mean_3: 0.02 }, 0.05));
  await c.settle();
});

afterAll(async () => {
  await device?.end();
  await c?.stop();
  await new Promise((resolve) => hook.close(resolve));
});

const get = async (url: string) => {
  const res = await c.app.http.app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() as Record<string, any> };
};

describe('Wilson interval', () => {
  it('matches published values and stays inside [0, 1]', () => {
    expect(wilson(30, 100)).toEqual([expect.closeTo(0.2189, 4), expect.closeTo(0.3958, 4)]);
    expect(wilson(0, 10)).toEqual([0, expect.closeTo(0.2775, 4)]);
    expect(wilson(10, 10)).toEqual([expect.closeTo(0.7225, 4), 1]);
    expect(wilson(0, 0)).toBeNull();
  });
});

describe('GET /api/v1/models/:name/versions/:version/quality', () => {
  it('sums the windows of every device with 95% Wilson intervals, per role and over time', async () => {
    const { status, body } = await get(`/api/v1/models/${MODEL}/versions/1.0.0/quality`);
    expect(status).toBe(200);
    expect(body.totals).toMatchObject({
      matured: 1960, confusion: { tp: 39, fp: 50, tn: 1850, fn: 21 }, windows: 2, devices: 1, from: day(1), to: day(3),
      precision: { value: 0.438202, ci: wilson(39, 89), n: 89 },
      recall: { value: 0.65, ci: wilson(39, 60), n: 60 },
      events: { caught: 3, missed: 1, falseAlarms: 5, recall: { value: 0.75, ci: wilson(3, 4) }, leadHours: { n: 3, median: 10, mean: 11.667 } },
    });
    expect(body.sufficient).toBe(true);
    expect(Object.keys(body.byRole)).toEqual(['active']);
    expect(body.series.map((p: any) => [p.start, p.end, p.matured, p.precision.value])).toEqual([
      [day(1), day(2), 958, 0.4], [day(2), day(3), 1002, 0.487179],
    ]);
    expect(body.card).toEqual({ precision: 0.1842, recall: 0.6786 });
    expect(body.drift).toEqual([expect.objectContaining({ start: day(2), n: 720, scorePsi: 0.05, maxFeaturePsi: 1.2, maxFeature: 'volt_mean_24', medianFeaturePsi: 0.4 })]);
    expect(body.definitions.precision).toMatch(/tp \/ \(tp \+ fp\)/);
  });

  it('buckets the series, filters by role and period, and refuses unknown versions', async () => {
    const weekly = await get(`/api/v1/models/${MODEL}/versions/1.0.0/quality?bucketHours=168`);
    expect(weekly.body.series).toHaveLength(1);
    expect(weekly.body.series[0].matured).toBe(1960);
    const later = await get(`/api/v1/models/${MODEL}/versions/1.0.0/quality?from=2015-01-02T00:00:00Z`);
    expect(later.body.totals.matured).toBe(1002);
    expect((await get(`/api/v1/models/${MODEL}/versions/1.0.0/quality?role=shadow`)).body.totals.matured).toBe(0);
    expect((await get(`/api/v1/models/${MODEL}/versions/9.9.9/quality`)).status).toBe(404);
    const bad = await get(`/api/v1/models/${MODEL}/versions/1.0.0/quality?role=spare`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/query\.role/);
  });
});

describe('comparison and rollout evidence', () => {
  it('compares two versions on the devices and the period they share', async () => {
    const { body } = await get(`/api/v1/models/${MODEL}/compare?a=1.0.0&b=1.1.0-degraded`);
    expect(body).toMatchObject({
      devices: ['gw-a'], period: { from: day(1), to: day(3) }, note: null,
      a: { version: '1.0.0', totals: { precision: { value: 0.438202 } } },
      b: { version: '1.1.0-degraded', totals: { precision: { value: 0.123711 }, recall: { value: 0.210526 } } },
      difference: { precision: -0.314491, recall: -0.439474 },
    });
  });

  it('gives the rollout engine the matured predictions received since the rollout began, whatever their event time', () => {
    const evidence = (since: string, deviceIds = ['gw-a']) => c.app.insights.quality.evidence({ model: { name: MODEL, version: '1.0.0' }, deviceIds, since });
    // the windows are of January 2015 (a replay) and were received when this file started
    const all = evidence(startedAt);
    expect(all).toMatchObject({ samples: 1960, precision: 0.438202, recall: 0.65 });
    expect(all.detail).toMatch(/95% Wilson/);
    expect(evidence(startedAt, ['gw-b'])).toMatchObject({ samples: 0, precision: null });
  });

  it('derives rows of stored records that have none (a crash between the record and its row)', () => {
    const db = c.app.database.handle;
    db.prepare('DELETE FROM quality_windows').run();
    expect(new QualityRepo(db).backfill()).toEqual({ quality: 4, drift: 0 });
    expect(db.prepare('SELECT COUNT(*) FROM quality_windows').pluck().get()).toBe(4);
  });
});

describe('quality alerts', () => {
  it('raises drops against the larger baseline and drift above its threshold, and retries the webhook', async () => {
    await c.app.insights.alerts.round();
    const { body } = await get('/api/v1/quality/alerts');
    const summary = body.alerts.map((a: any) => [a.kind, a.model.version, a.role, a.metric, a.value, a.baseline, a.baselineSource]).sort();
    expect(summary).toEqual([
      ['drift', '1.0.0', 'active', 'features', 0.4, 0.25, 'psi-threshold'],
      ['precision-drop', '1.1.0-degraded', 'shadow', 'precision', 0.123711, 0.438202, 'previous:1.0.0'],
      ['recall-drop', '1.1.0-degraded', 'shadow', 'recall', 0.210526, 0.65, 'previous:1.0.0'],
    ]);
    expect(body.alerts.every((a: any) => a.notifiedAt === null && a.notifyAttempts === 1 && /HTTP 500/.test(a.notifyError))).toBe(true);
    hookStatus = 200;
    await c.app.insights.alerts.round();
    expect(posted.map((p) => [p.type, p.alert.kind]).sort()).toEqual([
      ['pdm.quality-alert', 'drift'], ['pdm.quality-alert', 'precision-drop'], ['pdm.quality-alert', 'recall-drop'],
    ]);
    const after = (await get('/api/v1/quality/alerts')).body.alerts;
    expect(after.every((a: any) => a.notifiedAt !== null && a.notifyAttempts === 2)).toBe(true);
    // a later round raises nothing new and posts nothing again
    await c.app.insights.alerts.round();
    expect(posted).toHaveLength(3);
  });

  it('resolves the drift alert once the latest window\'s median feature PSI is back under the threshold', async () => {
    await device.publish('drift', drift(3, { volt_mean_24: 2.5, rotate_mean_3: 0.2, pressure_mean_3: 0.02 }, 0.04));
    await c.settle();
    await c.app.insights.alerts.round();
    const active = (await get('/api/v1/quality/alerts')).body.alerts.map((a: any) => a.kind).sort();
    expect(active).toEqual(['precision-drop', 'recall-drop']);
    const resolved = (await get('/api/v1/quality/alerts?state=resolved')).body.alerts;
    expect(resolved).toEqual([expect.objectContaining({ kind: 'drift', state: 'resolved', resolvedAt: expect.any(String) })]);
    const overview = (await get('/api/v1/quality')).body;
    expect(overview.versions.map((v: any) => [v.version, v.role, v.totals.matured, v.sufficient])).toEqual([
      ['1.0.0', 'active', 1960, true], ['1.1.0-degraded', 'shadow', 1952, true],
    ]);
    expect(overview.activeAlerts).toBe(2);
  });

  it('judges score drift across the fleet: one device\'s shifted scores are not drift, most devices\' are', async () => {
    const others = await Promise.all(['gw-b', 'gw-c'].map((id) => connectDevice(c.mqttUrl, id, { withWill: false })));
    const scoreAlerts = async () => (await get('/api/v1/quality/alerts')).body.alerts.filter((a: any) => a.metric === 'score');
    try {
      await device.publish('drift', drift(4, { volt_mean_24: 0.01 }, 0.9));
      await others[0]!.publish('drift', drift(4, { volt_mean_24: 0.01 }, 0.1, 'gw-b', 1));
      await others[1]!.publish('drift', drift(4, { volt_mean_24: 0.01 }, 0.05, 'gw-c', 1));
      await c.settle();
      await c.app.insights.alerts.round();
      expect(await scoreAlerts()).toEqual([]);
      await others[0]!.publish('drift', drift(5, { volt_mean_24: 0.01 }, 0.6, 'gw-b', 2));
      await c.settle();
      await c.app.insights.alerts.round();
      expect(await scoreAlerts()).toEqual([expect.objectContaining({ kind: 'drift', value: 0.6, detail: expect.stringMatching(/median score PSI over 3 devices 0\.6/) })]);
    } finally {
      for (const o of others) await o.end();
    }
  });
});

describe('the quality-alert round at fleet size', () => {
  it('reads only the drift windows stored since its last round, and no quality window (their sums are kept as they are stored)', async () => {
    const arrived = vi.spyOn(QualityRepo.prototype, 'driftArrivedAfter');
    const windowReads = [vi.spyOn(QualityRepo.prototype, 'quality'), vi.spyOn(QualityRepo.prototype, 'drift')];
    const rowsRead = () => arrived.mock.results.map((r) => (r.value as ReturnType<QualityRepo['driftArrivedAfter']>).rows.map((w) => [w.deviceId, w.windowStart]));
    try {
      await c.app.insights.alerts.round();
      await device.publish('drift', drift(6, { volt_mean_24: 0.3, rotate_mean_3: 0.3, pressure_mean_3: 0.3 }, 0.05));
      await c.settle();
      await c.app.insights.alerts.round();
      // every window before this test was read by the rounds above; the second round reads the one new window
      expect(rowsRead()).toEqual([[], [['gw-a', day(6)]]]);
      const active = (await get('/api/v1/quality/alerts')).body.alerts.map((a: any) => [a.kind, a.metric, a.value]).sort();
      expect(active).toContainEqual(['drift', 'features', 0.3]);
      // a restarted controller's alerts read every stored drift window once, then none, and find the same conditions
      const db = c.app.database.handle;
      const restarted = new QualityAlerts({
        db: () => db, repo: () => new QualityRepo(db), cards: () => new CardBaselines(db, cardsDir), clock: systemClock, log: createLogger('silent'),
        settings: { dropShare: 0.1, minMatured: 100, driftPsiThreshold: 0.25, driftScoreAlerts: true, driftMinSamples: 500, intervalMs: 3_600_000 },
      });
      const first = restarted.conditions();
      expect(rowsRead()[2]).toHaveLength(db.prepare('SELECT COUNT(*) FROM drift_windows').pluck().get() as number);
      expect(restarted.conditions()).toEqual(first);
      expect(rowsRead()[3]).toEqual([]);
      expect(first.map((x) => [x.kind, x.metric, x.value]).sort()).toEqual(active);
      for (const spy of windowReads) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of [arrived, ...windowReads]) spy.mockRestore();
    }
  });
});

// last in the file: it adds a window the totals above do not expect
describe('rollout evidence of a rollout that begins after the data', () => {
  it('has none until a device reports a window, then exactly that window, though its event time is 2015', async () => {
    const evidence = (since: string) => c.app.insights.quality.evidence({ model: { name: MODEL, version: '1.0.0' }, deviceIds: ['gw-a'], since });
    const rolloutBegan = new Date(Date.now() + 1).toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(evidence(rolloutBegan)).toMatchObject({ samples: 0, precision: null, recall: null });
    await device.publish('quality', quality('1.0.0', 'active', 3, [10, 10, 500, 5], [1, 0, 1, [6]]));
    await c.settle();
    expect(evidence(rolloutBegan)).toMatchObject({ samples: 525, precision: 0.5, recall: 0.666667 });
    expect(evidence(startedAt).samples).toBe(1960 + 525);
  });
});

/**
 * The dashboard at fleet scale, in headless Chromium against a real controller process whose database
 * was seeded through the controller's own store code (DevicesRepo.applyStatus, RecordsRepo.store, as
 * bench/reports.ts builds its 10,000-device database): 300 devices and assets, each with downtime,
 * failures and two metric windows of a model version. The page shows the summary numbers the API
 * gives, draws at most 20 bars per device or asset, names the least available asset first and says
 * which 20 of how many it shows, and never asks for every device or the unpaged report by asset.
 * With a slow API it never has two requests in flight, also when a sign-in or sign-out is clicked
 * during a refresh (which then runs one more). Also the API's answers to a bad sort or a bad integer.
 * Screenshot in test-artifacts/ (gitignored).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineEvent, MetricWindow } from '@pdm/protocol';
import { Database } from '../../controller/src/db/database.js';
import { DevicesRepo } from '../../controller/src/db/devices-repo.js';
import { RecordsRepo } from '../../controller/src/db/records-repo.js';
import { openDashboardPage } from '../helpers/browser.js';
import { repoRoot, startController, type ControllerHandle } from '../helpers/fleet.js';

const artifacts = join(repoRoot, 'test-artifacts');
const DEVICES = 300;
/** The asset with the longest stop (10 days): the least available of all. */
const WORST = 137;
const DAY = 86_400_000;
const START = Date.parse('2026-08-01T00:00:00.000Z');
const MODEL = { name: 'azure-pdm-failure-24h', version: '1.0.0' };
const iso = (ms: number): string => new Date(ms).toISOString();
const NOT_INT = 'must be an integer in digits, such as 20';

interface ChartLike {
  data: { labels?: unknown[]; datasets: { label?: string; data: unknown[] }[] };
}
// The callbacks given to page.evaluate run in the page, where these exist; declared for the type checker
// only (the Node test program has no DOM library).
declare const document: {
  getElementById(id: string): { textContent: string | null; value?: string; click?(): void; requestSubmit?(): void } | null;
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null; querySelector(s: string): { textContent: string | null } | null }>;
  body: { dataset: Record<string, string | undefined> };
};
declare const window: { Chart: { getChart(canvas: unknown): ChartLike | undefined } };

interface Summary {
  count: number;
  byState: { online: number; offline: number; unknown: number };
  totals: { outboxDepth: number; dropped: number };
  top: { deviceId: string; outboxDepth: number }[];
  restartState: { frozen: number };
}

interface Report {
  totals: { failures: number };
  page?: { offset: number; limit: number; groups: number; next?: number };
  groups: { key: string; availability: number; downtimeHours: { unplanned: number } }[];
}

/** Each device's records: a stop of 1-50 h, a failure on every third, the worst asset's 10-day stop, a metric window at each end. */
function deviceRecords(i: number): { kind: 'events' | 'metrics'; record: MachineEvent | MetricWindow }[] {
  const deviceId = `dev-${i}`;
  const assetId = `asset-${i}`;
  let seq = 0;
  const event = (at: number, type: MachineEvent['type'], more: Partial<MachineEvent> = {}) =>
    ({ kind: 'events' as const, record: { deviceId, seq: ++seq, time: iso(at), assetId, type, at: iso(at), source: 'sensor' as const, ...more } });
  const window = (from: number) => ({ kind: 'metrics' as const, record: {
    deviceId, seq: ++seq, time: iso(from + DAY), assetId, windowStart: iso(from), windowEnd: iso(from + DAY), readings: 24, rejectedReadings: {},
    inferences: 24, inferenceErrors: 0, alerts: 0, latencyMs: { p50: 0.1, p95: 0.2, max: 0.5 }, model: MODEL,
  } });
  const stop = START + 5 * DAY + (i % 24) * 3_600_000;
  const out = [window(START), event(stop, 'downtime-start', { cause: i % 5 === 0 ? 'planned' : 'unplanned' }),
    event(stop + (1 + ((i * 37) % 50)) * 3_600_000, 'downtime-end')];
  if (i % 3 === 0) out.push(event(START + 20 * DAY, 'failure', { component: `comp${1 + (i % 4)}` }));
  if (i === WORST) out.push(event(START + 8 * DAY, 'failure', { component: 'comp2' }), event(START + 8 * DAY, 'downtime-start', { cause: 'unplanned' }), event(START + 18 * DAY, 'downtime-end'));
  out.push(window(START + 29 * DAY));
  return out;
}

/** The controller's database with DEVICES devices: every seventh offline, backlogs and records behind that differ. */
async function seed(dataDir: string): Promise<void> {
  const database = new Database({ dataDir }, pino({ level: 'silent' }) as never);
  await database.start();
  const db = database.handle;
  const devices = new DevicesRepo(db);
  const records = new RecordsRepo(db);
  db.transaction(() => {
    for (let i = 1; i <= DEVICES; i++) {
      const deviceId = `dev-${i}`;
      const identity = { deviceId, agentVersion: '0.1.0', bootId: 'b', assetId: `asset-${i}`, assetClass: `class-${i % 5}`, site: `site-${i % 4}` };
      const counters = {
        readings: 100, rejectedReadings: {}, inferences: 100, alerts: 0, outboxDepth: (i * 53) % 997, outboxBytes: 1000, delivered: 100,
        dropped: (i % 11 === 0 ? { 'cap-age:predictions': i } : {}) as Record<string, number>,
        // every thirteenth device's restart state frozen (a full disk) for a day
        ...(i % 13 === 0 ? { statesNotStored: 1, stateStoredAt: null, stateNotStoredSince: iso(START + 29 * DAY) } : {}),
      };
      const recs = deviceRecords(i);
      // every fourth device committed 40 records more than it delivered: records behind
      const lastSeq = recs.length + (i % 4 === 0 ? 40 : 0);
      devices.applyStatus({ ...identity, state: 'online', time: iso(START + 30 * DAY), models: [{ ...MODEL, role: 'active' }], lastSeq, counters }, START + 30 * DAY, true);
      if (i % 7 === 0) devices.applyStatus({ ...identity, state: 'offline', reason: 'lost', time: iso(START + 30 * DAY), models: [], lastSeq }, START + 30 * DAY, true);
      for (const { kind, record } of recs) {
        const payload = JSON.stringify(record);
        records.store(kind, record as never, createHash('sha256').update(payload).digest('hex'), Date.parse(record.time));
      }
    }
  })();
  await database.stop();
}

describe('dashboard at fleet scale', () => {
  let dir: string;
  let controller: ControllerHandle;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const requests: URL[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-e2e-dashboard-scale-'));
    mkdirSync(artifacts, { recursive: true });
    await seed(join(dir, 'controller'));
    controller = await startController({
      dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log'),
      // no device connects: the seeded online devices stay online for the test's length
      extraArgs: ['--heartbeat-timeout-sec', '86400'],
    });
    ({ browser, page } = await openDashboardPage(consoleErrors));
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.startsWith('/api/')) requests.push(url);
    });
    page.on('requestfailed', (r) => { consoleErrors.push(`request failed: ${r.url()}`); });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = async <T = { error: { message: string } }>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${controller.httpUrl}${path}`);
    return { status: res.status, body: (await res.json()) as T };
  };

  const chart = (id: string) => page.evaluate((canvas) => {
    const c = window.Chart.getChart(document.getElementById(canvas));
    return { labels: (c?.data.labels ?? []).map((l) => (Array.isArray(l) ? l.join(' ') : String(l))), datasets: (c?.data.datasets ?? []).map((d) => ({ label: d.label, data: d.data })) };
  }, id);
  const text = (id: string) => page.evaluate((el) => document.getElementById(el)?.textContent ?? '', id);
  const refreshes = () => page.evaluate(() => Number(document.body.dataset['refreshes'] ?? '0'));
  const refreshed = (n: number) => page.waitForFunction((m) => Number(document.body.dataset['refreshes'] ?? '0') >= m, n, { timeout: 60_000 });

  /**
   * Answers every API request of the page through the test, each fleet summary `holdMs` late, and
   * counts the requests in flight: from the page's asking to the test's answering. The count drops
   * before the answer goes out, so a request the page makes once it has its answer is never counted
   * beside that one.
   */
  async function slowApi(holdMs: number) {
    const seen = { inFlight: 0, most: 0, held: 0, summaries: 0 };
    await page.route((url) => url.pathname.startsWith('/api/'), async (route) => {
      seen.most = Math.max(seen.most, ++seen.inFlight);
      if (new URL(route.request().url()).pathname === '/api/v1/fleet/summary') {
        seen.summaries += 1;
        seen.held += 1;
        await new Promise((resolve) => setTimeout(resolve, holdMs));
        seen.held -= 1;
      }
      const response = await route.fetch();
      seen.inFlight -= 1;
      await route.fulfill({ response });
    });
    return seen;
  }
  /** Signs in with `token` through the form (hidden while signed in: submitted as a click on its button would). */
  const signIn = (token: string) => page.evaluate((t) => {
    document.getElementById('signin-token')!.value = t;
    document.getElementById('signin-form')!.requestSubmit!();
  }, token);

  it('shows the API\'s summary, at most 20 bars per device or asset, the least available asset first, and never the unpaged lists', async () => {
    const res = await page.goto(`${controller.httpUrl}/?refresh=1`);
    expect(res?.status()).toBe(200);
    await page.waitForFunction(() => Number(document.body.dataset['refreshes'] ?? '0') >= 2, undefined, { timeout: 60_000 });

    const summary = (await api<Summary>('/api/v1/fleet/summary')).body;
    expect(summary.count).toBe(DEVICES);
    expect(summary.byState.offline).toBe(Math.floor(DEVICES / 7));
    expect(summary.restartState.frozen).toBe(Math.floor(DEVICES / 13));
    const kpis = await page.evaluate(() => Array.from(document.querySelectorAll('#fleet-kpis .kpi'), (k) => {
      const value = k.querySelector('b')?.textContent ?? '';
      return [(k.textContent ?? '').slice(value.length), value];
    }));
    expect(Object.fromEntries(kpis)).toEqual({
      devices: String(DEVICES), online: String(summary.byState.online), offline: String(summary.byState.offline),
      'records waiting in outboxes': String(summary.totals.outboxDepth), 'dropped records': String(summary.totals.dropped),
      'restart state frozen': String(summary.restartState.frozen),
    });
    expect((await chart('chart-fleet-state')).datasets[0]!.data).toEqual([summary.byState.online, summary.byState.offline, summary.byState.unknown]);
    const backlog = await chart('chart-fleet-backlog');
    expect(backlog.labels).toEqual(summary.top.map((d) => d.deviceId));
    expect(backlog.labels).toHaveLength(20);
    expect(await text('caption-fleet-backlog')).toMatch(/the 20 devices with the most records waiting of 300/);

    // the least available asset, from the whole report by asset (read here, never by the page): one
    // page of the largest size holds every group of this fleet (JSON pages by default)
    const full = (await api<Report>('/api/v1/reports/reliability?groupBy=asset&perAsset=omit&limit=1000')).body;
    expect(full.page).toEqual({ offset: 0, limit: 1000, groups: DEVICES });
    expect(full.groups).toHaveLength(DEVICES);
    const least = [...full.groups].sort((a, b) => a.availability - b.availability);
    expect(least[0]!.key).toBe(`asset-${WORST}`);
    const availability = await chart('chart-availability');
    expect(availability.labels).toEqual(least.slice(0, 20).map((g) => g.key));
    expect(availability.datasets[0]!.data).toEqual(least.slice(0, 20).map((g) => g.availability * 100));
    expect(await text('caption-availability')).toBe('Availability: the 20 least available assets of 300, least available first');
    expect(await text('caption-pareto-asset')).toBe('Downtime (all causes) of the 20 least available assets of 300, most first (line: running share of all assets\' downtime)');
    const pareto = await chart('chart-pareto-asset');
    expect(pareto.labels.length).toBeGreaterThan(0);
    expect(pareto.labels.length).toBeLessThanOrEqual(20);
    expect(pareto.labels[0]).toBe(`asset-${WORST}`);
    expect(least.slice(0, 20).map((g) => g.key)).toEqual(expect.arrayContaining(pareto.labels));
    expect(await text('heading-versions')).toBe('Model versions: the 20 least available assets of 300');
    const versionAssets = await page.evaluate(() => Array.from(document.querySelectorAll('#reliability-versions tbody tr'), (r) => r.querySelector('td')?.textContent ?? ''));
    // one version per asset here: the table in the chart's order, least available first
    expect(versionAssets).toEqual(least.slice(0, 20).map((g) => g.key));
    // the totals and the cause Pareto of the whole fleet
    expect(await text('reliability-kpis')).toContain(`${full.totals.failures}failures`);
    expect((await chart('chart-pareto-cause')).labels.length).toBeGreaterThan(0);
    expect(await text('updated')).not.toMatch(/failed/);

    const devicesRead = requests.filter((u) => u.pathname === '/api/v1/devices');
    expect(devicesRead.filter((u) => !u.searchParams.has('limit')).map(String)).toEqual([]);
    const reports = requests.filter((u) => u.pathname === '/api/v1/reports/reliability');
    const unpagedByAsset = reports.filter((u) => (u.searchParams.get('groupBy') ?? 'asset') === 'asset' && !u.searchParams.has('limit') && u.searchParams.get('perAsset') !== 'omit');
    expect(unpagedByAsset.map(String)).toEqual([]);
    expect(reports.some((u) => u.searchParams.get('sort') === 'availability' && u.searchParams.get('limit') === '20')).toBe(true);
    expect(requests.some((u) => u.pathname === '/api/v1/fleet/summary')).toBe(true);
    await page.screenshot({ path: join(artifacts, 'dashboard-fleet-scale.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('never asks the API twice at once when it is slower than the refresh interval', async () => {
    // refresh every 1 s (the page of the first test), every summary answered 2.5 s late: each refresh
    // waits for the one before, and inside a refresh the sections ask one after another
    const seen = await slowApi(2500);
    const start = await refreshes();
    // the refresh under way when the route was set may have asked for its summary before it: it counts none
    await refreshed(start + 5);
    await page.unrouteAll({ behavior: 'wait' });
    expect(seen.summaries).toBeGreaterThanOrEqual(4);
    expect(seen.most).toBe(1);
    expect(consoleErrors).toEqual([]);
  }, 90_000);

  it('runs one more refresh after a sign-in or sign-out clicked during a slow one, never beside it', async () => {
    // a refresh interval far beyond the test: every refresh here is one a click asked for
    await page.goto(`${controller.httpUrl}/?refresh=600`);
    await refreshed(1);
    const seen = await slowApi(2000);
    for (const click of [() => page.click('#signout'), () => signIn('second-token')]) {
      const before = { refreshes: await refreshes(), summaries: seen.summaries };
      // reads are open here: any token signs in, and the page shows Sign out
      await signIn('first-token');
      await expect.poll(() => seen.held, { timeout: 20_000 }).toBe(1);
      await click();
      // the refresh the sign-in started, then the one the click asked for once it ended
      await refreshed(before.refreshes + 2);
      expect(seen.summaries - before.summaries).toBe(2);
    }
    await page.unrouteAll({ behavior: 'wait' });
    expect(seen.most).toBe(1);
    expect(await text('updated')).toMatch(/^updated /);
    expect(consoleErrors).toEqual([]);
  }, 90_000);

  it('answers a bad sort, limit or top with 400 and the field\'s problem in words', async () => {
    const refused: [string, string][] = [
      ['/api/v1/reports/reliability?sort=worst', 'query.sort: Invalid option: expected one of "key"|"availability"|"downtime"'],
      ['/api/v1/reports/reliability?sort=availability&limit=1001', 'query.limit: at most 1000 groups a page: format=csv without limit gives the whole groups table, or walk the pages (offset=page.next)'],
      ['/api/v1/fleet/summary?top=500', 'query.top: Too big: expected number to be <=100'],
      ['/api/v1/devices?limit=-1', 'query.limit: Too small: expected number to be >=1'],
      // every route reading an integer from the query (queryInt) says what is wrong with one that is not
      ['/api/v1/reports/reliability?sort=availability&limit=1.5', `query.limit: ${NOT_INT}`],
      ['/api/v1/fleet/summary?top=1e2', `query.top: ${NOT_INT}`],
      ['/api/v1/devices?limit=', `query.limit: ${NOT_INT}`],
      ['/api/v1/devices/dev-1?alerts=2.0', `query.alerts: ${NOT_INT}`],
      ['/api/v1/audit?before=1e2', `query.before: ${NOT_INT}`],
      ['/api/v1/rollouts?limit=', `query.limit: ${NOT_INT}`],
    ];
    for (const [path, message] of refused) {
      const res = await api(path);
      expect(res.status, path).toBe(400);
      expect(res.body.error.message, path).toBe(message);
    }
    const byDowntime = (await api<Report>('/api/v1/reports/reliability?groupBy=asset&sort=downtime&limit=3&perAsset=omit')).body;
    expect(byDowntime.page).toEqual({ offset: 0, limit: 3, groups: DEVICES, next: 3 });
    expect(byDowntime.groups[0]!.key).toBe(`asset-${WORST}`);
    const hours = byDowntime.groups.map((g) => g.downtimeHours.unplanned);
    expect(hours).toEqual([...hours].sort((a, b) => b - a));
  });
});

/**
 * The dashboard in headless Chromium (Debian `chromium`, driven by playwright-core) against a real
 * controller process with data from real agents replaying Azure PdM machines (two on the reference
 * model, one on the deliberately noisy one): the page loads, every chart has data points, nothing
 * is written to the console as an error, a fleet this small is shown whole (every asset in key order,
 * captions that say so), and it follows new data without a reload. Screenshots go to
 * test-artifacts/ (gitignored).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDashboardPage } from '../helpers/browser.js';
import { repoRoot, startAzureAgent, startController, type ControllerHandle } from '../helpers/fleet.js';

const artifacts = join(repoRoot, 'test-artifacts');
const CHARTS = [
  'chart-fleet-state', 'chart-fleet-models', 'chart-fleet-backlog', 'chart-quality-precision', 'chart-quality-recall',
  'chart-mtbf-trend', 'chart-availability', 'chart-pareto-asset', 'chart-pareto-cause',
];

interface ChartLike {
  data: { labels?: unknown[]; datasets: { data: unknown[] }[] };
}
// The callbacks given to page.evaluate run in the page, where these exist; declared for the type checker
// only (the Node test program has no DOM library).
declare const document: {
  getElementById(id: string): unknown;
  querySelectorAll(selector: string): ArrayLike<{ querySelector(s: string): { textContent: string | null } | null }>;
  body: { dataset: Record<string, string | undefined> };
};
declare const window: { Chart: { getChart(canvas: unknown): ChartLike | undefined } };

interface ChartState {
  id: string;
  labels: number;
  points: number;
}

describe('dashboard', () => {
  let dir: string;
  let controller: ControllerHandle;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-e2e-dashboard-'));
    mkdirSync(artifacts, { recursive: true });
    controller = await startController({
      dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log'),
      extraArgs: ['--model-cards-dir', join(repoRoot, 'models/artifacts'), '--quality-alert-interval-sec', '1'],
    });
    for (const m of [1, 3, 12]) await controller.enroll(`gw-m${m}`);
    const agents = [1, 3, 12].map((m) => startAzureAgent({
      deviceId: `gw-m${m}`, machineId: m, brokerUrl: controller.mqttUrl, dataDir: join(dir, `gw-m${m}`), heartbeatSeconds: 1,
      passwordFile: controller.passwordFile(`gw-m${m}`),
      site: m === 12 ? 'plant-b' : 'plant-a', logFile: join(dir, `gw-m${m}.log`),
      ...(m === 12 ? { modelDir: join(repoRoot, 'models/artifacts/azure-pdm-failure-24h/1.3.0-noisy') } : {}),
    }));
    await Promise.all(agents.map((a) => a.waitFor('agent done', 120_000)));
    await Promise.all(agents.map((a) => a.exited));
    // a rollout of the noisy version to one (now offline) device, for the rollouts section and its gates
    // (the version the device runs is published too: a rollout must be able to roll back to it)
    for (const version of ['1.0.0', '1.3.0-noisy']) {
      const files = join(repoRoot, 'models/artifacts/azure-pdm-failure-24h', version);
      const published = await post('/api/v1/models', {
        name: 'azure-pdm-failure-24h', version, card: JSON.parse(readFileSync(join(files, 'card.json'), 'utf8')),
        model: readFileSync(join(files, 'model.onnx')).toString('base64'), reason: 'dashboard test',
      });
      expect(published.status).toBe(201);
    }
    const rollout = await post('/api/v1/rollouts', {
      id: 'dash-1', model: { name: 'azure-pdm-failure-24h', version: '1.3.0-noisy' }, target: { deviceIds: ['gw-m1'] }, mode: 'shadow',
      stages: [{ percent: 100, gates: { quality: { minPrecision: 0.1, minSamples: 50 } } }], reason: 'dashboard test',
    });
    expect(rollout.body).toMatchObject({ created: true });
    expect(rollout.status).toBe(201);
    ({ browser, page } = await openDashboardPage(consoleErrors));
    page.on('requestfailed', (r) => consoleErrors.push(`request failed: ${r.url()}`));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const charts = (): Promise<ChartState[]> => page.evaluate((ids) => ids.map((id) => {
    const chart = window.Chart.getChart(document.getElementById(id));
    const points = chart?.data.datasets.reduce((s, d) => s + d.data.filter((v) => v !== null && v !== undefined).length, 0) ?? 0;
    return { id, labels: chart?.data.labels?.length ?? 0, points };
  }), CHARTS);

  async function post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const token = readFileSync(join(dir, 'controller', 'admin.token'), 'utf8').trim();
    const res = await fetch(`${controller.httpUrl}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }

  const refreshes = () => page.evaluate(() => Number(document.body.dataset['refreshes'] ?? '0'));

  it('loads, draws every chart with data and writes no console error', async () => {
    const res = await page.goto(`${controller.httpUrl}/?refresh=1`);
    expect(res?.status()).toBe(200);
    await page.waitForFunction(() => Number(document.body.dataset['refreshes'] ?? '0') >= 2, undefined, { timeout: 30_000 });
    const drawn = await charts();
    for (const c of drawn) expect(c.points, c.id).toBeGreaterThan(0);
    const rollouts = await page.locator('#rollouts-body').textContent();
    expect(rollouts).toMatch(/dash-1.*azure-pdm-failure-24h@1\.3\.0-noisy.*shadow.*running/);
    expect(rollouts).toMatch(/quality/);
    expect(await page.locator('#quality-versions').textContent()).toMatch(/azure-pdm-failure-24h@1\.3\.0-noisy/);
    expect(await page.locator('#reliability-note').textContent()).toMatch(/assumed to stop the asset for 8 h/);
    expect(await page.locator('#updated').textContent()).not.toMatch(/failed/);
    await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });
    expect(readFileSync(join(artifacts, 'dashboard.png')).byteLength).toBeGreaterThan(10_000);
    expect(consoleErrors).toEqual([]);
  });

  it('shows a fleet of 20 assets or fewer whole: every asset in key order, captions without "least available"', async () => {
    // machine-12 after machine-3: natural key order, as the API's, not the text order
    const assets = ['machine-1', 'machine-3', 'machine-12'];
    const labels = (id: string) => page.evaluate((canvas) => (window.Chart.getChart(document.getElementById(canvas))?.data.labels ?? []).map(String), id);
    expect(await labels('chart-availability')).toEqual(assets);
    // the Pareto's bars run by hours: every asset with downtime, none other
    expect(assets).toEqual(expect.arrayContaining(await labels('chart-pareto-asset')));
    expect((await labels('chart-fleet-backlog')).sort()).toEqual(['gw-m1', 'gw-m12', 'gw-m3']);
    const versionAssets = await page.evaluate(() => Array.from(document.querySelectorAll('#reliability-versions tbody tr'), (r) => r.querySelector('td')?.textContent ?? ''));
    expect([...new Set(versionAssets)]).toEqual(assets);
    expect(await page.locator('#caption-availability').textContent()).toBe('Availability per asset');
    expect(await page.locator('#caption-pareto-asset').textContent()).toBe('Downtime Pareto by asset (all causes)');
    expect(await page.locator('#heading-versions').textContent()).toBe('Model versions per asset');
    expect(await page.locator('#caption-fleet-backlog').textContent())
      .toBe('Records waiting in the outbox, dropped, and seqs not stored in order per device (last heartbeat)');
    expect(consoleErrors).toEqual([]);
  });

  it('shows the noisy version\'s precision alert and follows new data without a reload', async () => {
    await page.waitForFunction(() => /precision-drop/.test(((document.getElementById('quality-alerts') as { textContent?: string } | null)?.textContent) ?? ''), undefined, { timeout: 30_000 });
    const labels = () => page.evaluate(() => {
      const chart = window.Chart.getChart(document.getElementById('chart-pareto-cause'));
      return (chart?.data.labels ?? []).map(String);
    });
    expect(await labels()).not.toContain('other');
    const res = await post('/api/v1/events', { type: 'downtime', assetId: 'machine-1', start: '2015-02-02T00:00:00Z', end: '2015-02-03T12:00:00Z', cause: 'other', note: 'no orders' });
    expect(res.status).toBe(201);
    const before = await refreshes();
    await page.waitForFunction(() => {
      const chart = window.Chart.getChart(document.getElementById('chart-pareto-cause'));
      return (chart?.data.labels ?? []).map(String).includes('other');
    }, undefined, { timeout: 30_000 });
    expect(await refreshes()).toBeGreaterThan(before);
    await page.locator('#quality').screenshot({ path: join(artifacts, 'dashboard-quality.png') });
    await page.locator('#reliability').screenshot({ path: join(artifacts, 'dashboard-reliability.png') });
    expect(consoleErrors).toEqual([]);
  });
});

/**
 * The dashboard under `apiReads: "token"`, in headless Chromium (Debian `chromium`, playwright-core)
 * against a real controller process with one real agent's data: the API answers reads without a token
 * with 401, the page then asks for a token; a wrong one is refused with the API's reason, a viewer
 * token (created through the API) shows the data and is sent on every call, survives a reload of the
 * tab, and Sign out asks again (screenshot of the refusal in test-artifacts/). The only console errors allowed are Chromium's own lines for the 401
 * answers the page is built to get ("Failed to load resource ... 401").
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDashboardPage } from '../helpers/browser.js';
import { repoRoot, startAzureAgent, startController, type ControllerHandle } from '../helpers/fleet.js';

const artifacts = join(repoRoot, 'test-artifacts');

interface ChartLike {
  data: { datasets: { data: unknown[] }[] };
}
// The callbacks given to page.evaluate run in the page, where these exist; declared for the type checker only.
declare const document: { getElementById(id: string): unknown; body: { dataset: Record<string, string | undefined> } };
declare const window: { Chart: { getChart(canvas: unknown): ChartLike | undefined } };
declare const sessionStorage: { getItem(key: string): string | null };

describe('dashboard sign-in (apiReads "token")', () => {
  let dir: string;
  let controller: ControllerHandle;
  let browser: Browser;
  let page: Page;
  let viewerToken: string;
  const consoleErrors: string[] = [];
  const requests: { url: string; authorization: string | undefined }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-e2e-dashboard-signin-'));
    mkdirSync(artifacts, { recursive: true });
    controller = await startController({
      dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log'),
      extraArgs: ['--model-cards-dir', join(repoRoot, 'models/artifacts'), '--api-reads', 'token'],
    });
    await controller.enroll('gw-m1');
    const agent = startAzureAgent({
      deviceId: 'gw-m1', machineId: 1, brokerUrl: controller.mqttUrl, dataDir: join(dir, 'gw-m1'), maxRows: 600,
      passwordFile: controller.passwordFile('gw-m1'), logFile: join(dir, 'gw-m1.log'),
    });
    await agent.waitFor('agent done', 120_000);
    await agent.exited;
    const created = await fetch(`${controller.httpUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${controller.adminToken()}` },
      body: JSON.stringify({ name: 'wall-screen', role: 'viewer', reason: 'dashboard sign-in test' }),
    });
    expect(created.status).toBe(201);
    viewerToken = ((await created.json()) as { token: string }).token;
    ({ browser, page } = await openDashboardPage(consoleErrors));
    page.on('request', (r) => { if (r.url().includes('/api/')) requests.push({ url: r.url(), authorization: r.headers()['authorization'] }); });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const text = (id: string) => page.locator(`#${id}`).textContent();
  const fleetPoints = () => page.evaluate(() => {
    const chart = window.Chart.getChart(document.getElementById('chart-fleet-state'));
    return chart?.data.datasets.reduce((s, d) => s + d.data.filter((v) => typeof v === 'number' && v > 0).length, 0) ?? 0;
  });
  const unexpectedErrors = () => consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 401/.test(e));

  it('the API answers reads without a token, or with a wrong one, with 401', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-token-of-this-controller' }] as Record<string, string>[]) {
      const res = await fetch(`${controller.httpUrl}/api/v1/devices`, { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    }
  });

  it('asks for a token, names a wrong one as refused, and shows the data with a viewer token', async () => {
    expect((await page.goto(`${controller.httpUrl}/?refresh=1`))?.status()).toBe(200);
    await page.locator('#signin').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await text('signin-error')).toMatch(/needs a token/);
    expect(await page.locator('#fleet').isVisible()).toBe(false);
    // submitted without the script (it failed to load), the form sends no token, and none in a URL
    expect(await page.locator('#signin-form').getAttribute('method')).toBe('post');
    expect(await page.locator('#signin-token').getAttribute('name')).toBeNull();

    await page.locator('#signin-token').fill('not-a-token-of-this-controller');
    await page.locator('#signin-form button[type=submit]').click();
    await page.waitForFunction(() => /Token not accepted/.test(String((document.getElementById('signin-error') as { textContent?: string }).textContent)));
    expect(await text('signin-error')).toMatch(/Token not accepted: unknown or malformed bearer token \(HTTP 401 UNAUTHORIZED\)/);
    await page.screenshot({ path: join(artifacts, 'dashboard-signin.png') });
    expect(await page.locator('#signin').isVisible()).toBe(true);
    expect(await page.locator('#fleet').isVisible()).toBe(false);

    await page.locator('#signin-token').fill(viewerToken);
    await page.locator('#signin-form button[type=submit]').click();
    await page.waitForFunction(() => Number(document.body.dataset['refreshes'] ?? '0') >= 2, undefined, { timeout: 30_000 });
    expect(await page.locator('#signin').isVisible()).toBe(false);
    expect(await page.locator('#fleet').isVisible()).toBe(true);
    expect(await page.locator('#signout').isVisible()).toBe(true);
    expect(await text('fleet-kpis')).toMatch(/1devices/);
    expect(await fleetPoints()).toBeGreaterThan(0);
    expect(await text('quality-versions')).toMatch(/azure-pdm-failure-24h@1\.0\.0/);
    expect(await text('updated')).not.toMatch(/failed/);
    expect(await page.evaluate(() => sessionStorage.getItem('pdm.apiToken'))).toBe(viewerToken);
    // every API call after sign-in carried the token
    const signedIn = requests.slice(requests.findIndex((r) => r.authorization === `Bearer ${viewerToken}`));
    expect(signedIn.length).toBeGreaterThan(5);
    expect(signedIn.filter((r) => r.authorization !== `Bearer ${viewerToken}`)).toEqual([]);
    expect(unexpectedErrors()).toEqual([]);
  });

  it('keeps the token over a reload of the tab, and Sign out asks for one again', async () => {
    await page.reload();
    await page.waitForFunction(() => Number(document.body.dataset['refreshes'] ?? '0') >= 1, undefined, { timeout: 30_000 });
    expect(await page.locator('#signin').isVisible()).toBe(false);
    expect(await fleetPoints()).toBeGreaterThan(0);

    await page.locator('#signout').click();
    await page.locator('#signin').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await text('signin-error')).toMatch(/needs a token/);
    expect(await page.evaluate(() => sessionStorage.getItem('pdm.apiToken'))).toBeNull();
    expect(await page.locator('#signout').isVisible()).toBe(false);
    expect(await page.locator('#fleet').isVisible()).toBe(false);
    expect(unexpectedErrors()).toEqual([]);
  });
});

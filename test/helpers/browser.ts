/**
 * The real browser of the dashboard tests: Debian's chromium (.ci/run installs it) driven by
 * playwright-core, one page whose console errors and page errors are collected for the test to check.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface WatchedPage {
  readonly browser: Browser;
  readonly page: Page;
}

/** Launches chromium with one 1400x1000 page; its console errors and uncaught errors go to `errors`. */
export async function openDashboardPage(errors: string[]): Promise<WatchedPage> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return { browser, page };
}

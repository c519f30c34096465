/**
 * The reliability report's pages (issue 9: JSON pages its groups by default) against a whole controller
 * (real HTTP, SQLite, MQTT) holding 250 assets: the default page, the largest page, the 400 past it,
 * `page.next`, CSV whole unless paged, and pdmctl's --sort/--limit/--offset/--all. Walking the pages gives
 * exactly the groups, Pareto entries by asset and model versions of one page holding every group (250
 * fit in one of 1000) and the rows of the CSV.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_FILE } from '../../auth/tokens.js';
import { DevicesRepo } from '../../db/devices-repo.js';
import { RecordsRepo } from '../../db/records-repo.js';
import { versionOrder, type ReliabilityReport } from '../../reliability/report.js';
import * as fx from '../../testing/fixtures.js';
import { startTestController, type TestController } from '../../testing/harness.js';
import { runPdmctl } from '../run.js';
import { runCaptured } from '../../testing/pdmctl.js';

const ASSETS = 250;
const FROM = '2015-01-01T00:00:00.000Z';
const TO = '2015-01-11T00:00:00.000Z';
const PERIOD = `from=${FROM}&to=${TO}`;
const H = 3_600_000;
const at = (h: number): string => new Date(Date.parse(FROM) + h * H).toISOString();
const MAX_MESSAGE = 'query.limit: at most 1000 groups a page: format=csv without limit gives the whole groups table, or walk the pages (offset=page.next)';

let c: TestController;
let env: Record<string, string>;

beforeAll(async () => {
  c = await startTestController();
  env = { PDM_URL: `http://127.0.0.1:${c.app.http.port}`, PDM_TOKEN: readFileSync(join(c.config.dataDir, ADMIN_TOKEN_FILE), 'utf8').trim() };
  const db = c.app.database.handle;
  const devices = new DevicesRepo(db);
  const records = new RecordsRepo(db);
  // 250 assets on two sites: 0-3 failures each (availability in four tiers, ties ordered by key), a
  // planned maintenance on every fifth, one model version each and a second one on every seventh
  db.transaction(() => {
    for (let i = 1; i <= ASSETS; i++) {
      const deviceId = `gw-${i}`;
      const assetId = `machine-${i}`;
      devices.applyStatus(fx.status(deviceId, { assetId, site: i % 2 === 0 ? 'plant-a' : 'plant-b' }), Date.parse(TO), true);
      let seq = 0;
      const store = (kind: 'events' | 'metrics', record: ReturnType<typeof fx.event> | ReturnType<typeof fx.metrics>) =>
        records.store(kind, record as never, `sha-${deviceId}-${record.seq}`, Date.parse(record.time));
      for (let f = 0; f < i % 4; f++) {
        const t = at(10 + f * 50 + (i % 13));
        store('events', fx.event(deviceId, ++seq, { assetId, time: t, at: t, type: 'failure', component: `comp${1 + (i % 4)}` }));
      }
      if (i % 5 === 0) store('events', fx.event(deviceId, ++seq, { assetId, time: at(30), at: at(30), type: 'maintenance', component: 'comp1' }));
      const window = (h: number, version: string) =>
        store('metrics', fx.metrics(deviceId, ++seq, { assetId, time: at(h + 1), windowStart: at(h), windowEnd: at(h + 1), model: { name: 'azure-pdm-failure-24h', version } }));
      window(1, '1.0.0');
      window(100, '1.0.0');
      if (i % 7 === 0) window(200, '1.1.0');
    }
  })();
});

afterAll(async () => {
  await c?.stop();
});

const get = async (query: string, accept = 'application/json') => {
  const res = await fetch(`${env.PDM_URL}/api/v1/reports/reliability?${query}`, { headers: { accept } });
  return { status: res.status, text: await res.text() };
};
const json = async (query: string): Promise<ReliabilityReport> => {
  const res = await get(query);
  expect(res.status, query).toBe(200);
  return JSON.parse(res.text) as ReliabilityReport;
};
/** Every page of `query`, following page.next from offset 0. */
const walk = async (query: string): Promise<ReliabilityReport[]> => {
  const pages = [await json(query)];
  for (let next = pages[0]!.page!.next; next !== undefined; next = pages.at(-1)!.page!.next) pages.push(await json(`${query}&offset=${next}`));
  return pages;
};
const csvKeys = (text: string): string[] => text.split('\r\n').slice(1, -2).map((line) => line.split(',')[0]!);
const ctl = (args: string[]) => runCaptured(args, env);

describe('GET /api/v1/reports/reliability pages JSON by default', () => {
  it('answers a page of 100 groups from offset 0 without limit, page.next pointing at the next one', async () => {
    const first = await json(`${PERIOD}&groupBy=asset`);
    expect(first.page).toEqual({ offset: 0, limit: 100, groups: ASSETS, next: 100 });
    expect(first.groups.map((g) => g.key)).toEqual(Array.from({ length: 100 }, (_, i) => `machine-${i + 1}`));
    // the totals are the whole scope's: every asset's calendar hours
    expect(first.totals.assets).toBe(ASSETS);
    const last = await json(`${PERIOD}&groupBy=asset&offset=200`);
    expect(last.page).toEqual({ offset: 200, limit: 100, groups: ASSETS });
    expect(last.groups).toHaveLength(50);
    // exactly full: no next either
    expect((await json(`${PERIOD}&groupBy=asset&offset=150`)).page).toEqual({ offset: 150, limit: 100, groups: ASSETS });
    const past = await json(`${PERIOD}&groupBy=asset&offset=300`);
    expect(past.groups).toEqual([]);
    expect(past.page).toEqual({ offset: 300, limit: 100, groups: ASSETS });
    // the default page and the same page asked for in full are one kept body
    const cache = async (query: string) => (await fetch(`${env.PDM_URL}/api/v1/reports/reliability?${query}`)).headers.get('x-pdm-report-cache');
    expect(await cache(`${PERIOD}&groupBy=site&bucket=day`)).toBe('miss');
    expect(await cache(`${PERIOD}&groupBy=site&bucket=day&limit=100&offset=0`)).toBe('hit');
  });

  it('takes a page of up to 1000 and answers 400 past it, naming the max, the CSV and paging', async () => {
    const whole = await json(`${PERIOD}&groupBy=asset&limit=1000`);
    expect(whole.page).toEqual({ offset: 0, limit: 1000, groups: ASSETS });
    expect(whole.groups).toHaveLength(ASSETS);
    for (const query of [`${PERIOD}&limit=1001`, `${PERIOD}&format=csv&limit=1001`]) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      expect(JSON.parse(res.text).error.message, query).toBe(MAX_MESSAGE);
    }
  });

  it('gives, walked page by page, exactly the groups, Pareto by asset and model versions of one page of all, in every sort', async () => {
    for (const sort of ['key', 'availability', 'downtime']) {
      const whole = await json(`${PERIOD}&groupBy=asset&sort=${sort}&limit=1000`);
      const pages = await walk(`${PERIOD}&groupBy=asset&sort=${sort}&limit=60`);
      expect(pages.map((p) => p.page), sort).toEqual([0, 60, 120, 180, 240].map((offset) => ({ offset, limit: 60, groups: ASSETS, ...(offset < 240 ? { next: offset + 60 } : {}) })));
      expect(pages.flatMap((p) => p.groups), sort).toEqual(whole.groups);
      const shares = (p: ReliabilityReport) => p.pareto.byAsset!.map((e) => e.cumulativeShare);
      expect(pages.flatMap((p) => p.pareto.byAsset!).sort((a, b) => a.cumulativeShare - b.cumulativeShare), sort).toEqual(whole.pareto.byAsset);
      expect(whole.pareto.byAsset!.length, sort).toBeGreaterThan(150);
      expect(pages.every((p) => shares(p).every((s, i, all) => i === 0 || s > all[i - 1]!)), sort).toBe(true);
      expect(pages.flatMap((p) => p.modelVersions!).sort(versionOrder), sort).toEqual(whole.modelVersions);
      expect(whole.modelVersions, sort).toHaveLength(ASSETS + Math.floor(ASSETS / 7));
      for (const p of pages) expect({ ...p, page: undefined, groups: [], pareto: { ...p.pareto, byAsset: [] }, modelVersions: [] }, sort).toEqual({ ...whole, page: undefined, groups: [], pareto: { ...whole.pareto, byAsset: [] }, modelVersions: [] });
    }
    const csv = await get(`${PERIOD}&groupBy=asset&sort=availability&format=csv`);
    expect(csvKeys(csv.text)).toEqual((await walk(`${PERIOD}&groupBy=asset&sort=availability`)).flatMap((p) => p.groups.map((g) => g.key)));
  });

  it('keeps the CSV whole by default, paged only when asked', async () => {
    const whole = await get(`${PERIOD}&groupBy=asset`, 'text/csv');
    expect(csvKeys(whole.text)).toEqual(Array.from({ length: ASSETS }, (_, i) => `machine-${i + 1}`));
    expect(csvKeys((await get(`${PERIOD}&groupBy=asset&format=csv&limit=10&offset=5`)).text)).toEqual(Array.from({ length: 10 }, (_, i) => `machine-${i + 6}`));
    // an offset alone: a page of the default size
    expect(csvKeys((await get(`${PERIOD}&groupBy=asset&format=csv&offset=240`)).text)).toEqual(Array.from({ length: 10 }, (_, i) => `machine-${i + 241}`));
  });

  it('leaves a report of a few groups whole, with its page', async () => {
    const bySite = await json(`${PERIOD}&groupBy=site`);
    expect(bySite.page).toEqual({ offset: 0, limit: 100, groups: 2 });
    expect(bySite.groups.map((g) => [g.key, g.assets])).toEqual([['plant-a', 125], ['plant-b', 125]]);
    expect(bySite.modelVersions).toHaveLength(ASSETS + Math.floor(ASSETS / 7));
  });
});

describe('pdmctl reports reliability pages', () => {
  const period = ['--from', FROM, '--to', TO];

  it('shows the page in the table with where the rest is, and takes --sort, --limit and --offset', async () => {
    const first = await ctl(['reports', 'reliability', ...period]);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/^groups 1-100 of 250; --all or --offset 100 for more$/m);
    expect(first.out).toMatch(/│ machine-100 +│/);
    expect(first.out).not.toMatch(/│ machine-101 +│/);
    const worst = await ctl(['reports', 'reliability', ...period, '--sort', 'availability', '--limit', '10', '--offset', '20']);
    expect(worst.out).toMatch(/^groups 21-30 of 250; --all or --offset 30 for more$/m);
    const expected = (await json(`${PERIOD}&groupBy=asset&sort=availability&limit=10&offset=20`)).groups.map((g) => g.key);
    expect([...worst.out.matchAll(/│ (machine-\d+) +│/g)].map((m) => m[1])).toEqual(expected);
    const last = await ctl(['reports', 'reliability', ...period, '--offset', '200']);
    expect(last.out).toMatch(/^groups 201-250 of 250$/m);
    const json1 = JSON.parse((await ctl(['reports', 'reliability', ...period, '--limit', '5', '--json'])).out) as ReliabilityReport;
    expect(json1.page).toEqual({ offset: 0, limit: 5, groups: ASSETS, next: 5 });
  });

  it('walks every page with --all: one report of all groups as a page of all would be, progress on stderr', async () => {
    for (const sort of ['key', 'downtime']) {
      const whole = await json(`${PERIOD}&groupBy=asset&sort=${sort}&limit=1000`);
      const all = await ctl(['reports', 'reliability', ...period, '--sort', sort, '--all', '--limit', '60', '--json']);
      expect(all.code, all.err).toBe(0);
      expect(all.err.split('\n').filter((l) => l !== '')).toEqual(['page 1/5', 'page 2/5', 'page 3/5', 'page 4/5', 'page 5/5']);
      // the same document, key for key and in the server's key order, but that its page says it is all
      expect(all.out).toBe(`${JSON.stringify({ ...whole, page: { offset: 0, limit: ASSETS, groups: ASSETS } })}\n`);
    }
    const table = await ctl(['reports', 'reliability', ...period, '--all']);
    expect(table.err).toBe('page 1/1\n');
    expect(table.out).toMatch(/^groups 1-250 of 250$/m);
    expect(table.out).toMatch(/│ machine-250 +│/);
  });

  it('refuses --all with --offset or --csv, and a limit past the max with the server\'s words', async () => {
    expect((await ctl(['reports', 'reliability', '--all', '--offset', '5'])).code).toBe(2);
    expect((await ctl(['reports', 'reliability', '--all', '--csv'])).code).toBe(2);
    const big = await ctl(['reports', 'reliability', '--limit', '1001']);
    expect(big.code).toBe(1);
    expect(big.err).toContain(`REQUEST_INVALID: ${MAX_MESSAGE}`);
  });

  it('takes the first body as the whole report when the controller answers without page (older than paging)', async () => {
    const { code, out, err, urls } = await ctlVia(['reports', 'reliability', ...period, '--all', '--json'], async (res) => {
      const { page: _, ...body } = (await res.json()) as ReliabilityReport;
      return Response.json(body);
    });
    expect(code, err).toBe(0);
    expect(urls).toHaveLength(1);
    const { page: _, ...whole } = await json(`${PERIOD}&groupBy=asset&limit=1000`);
    expect(JSON.parse(out)).toEqual(whole);
  });

  // from here on the tests change the data
  it('walks the default period at page 1\'s period: a metric window past its end stored after page 1 changes no page', async () => {
    const { code, out, err, urls } = await ctlVia(['reports', 'reliability', '--all', '--limit', '100', '--json'], (res, n) => {
      if (n === 1) storeNow(() => records().store('metrics', fx.metrics('gw-3', 1000, { assetId: 'machine-3', time: at(301), windowStart: at(300), windowEnd: at(301) }) as never, 'sha-late-window', Date.parse(at(301))));
      return res;
    });
    expect(code, err).toBe(0);
    expect(err).toBe('page 1/3\npage 2/3\npage 3/3\n');
    const first = new URL(urls[0]!).searchParams;
    expect([first.get('from'), first.get('to')]).toEqual([null, null]);
    const report = JSON.parse(out) as ReliabilityReport;
    // the default period: the first metric window's start to the end of the last before the late one (machine-7's second model version's)
    expect(report.period).toEqual({ from: at(1), to: at(201), hours: 200 });
    for (const url of urls.slice(1)) expect([new URL(url).searchParams.get('from'), new URL(url).searchParams.get('to')], url).toEqual([at(1), at(201)]);
    // the default period now takes in the window
    expect((await json('groupBy=asset')).period.to).toBe(at(301));
  });

  it('walks a scope without data: a period of no length (the clock) is not pinned', async () => {
    storeNow(() => {
      for (const id of ['idle-1', 'idle-2', 'idle-3']) new DevicesRepo(c.app.database.handle).applyStatus(fx.status(`gw-${id}`, { assetId: id, site: 'plant-idle' }), Date.parse(TO), true);
    });
    const { code, out, err, urls } = await ctlVia(['reports', 'reliability', '--site', 'plant-idle', '--all', '--limit', '2', '--json']);
    expect(code, err).toBe(0);
    expect(err).toBe('page 1/2\npage 2/2\n');
    expect(urls.map((u) => new URL(u).searchParams.has('to'))).toEqual([false, false]);
    const report = JSON.parse(out) as ReliabilityReport;
    expect(report.period.hours).toBe(0);
    expect(report.groups.map((g) => g.key)).toEqual(['idle-1', 'idle-2', 'idle-3']);
    expect(report.page).toEqual({ offset: 0, limit: 3, groups: 3 });
  });

  it('writes page.limit 1 in the merged report of an empty scope (the API answers no limit below 1)', async () => {
    const { code, out, err } = await ctlVia(['reports', 'reliability', '--site', 'plant-none', '--all', '--json']);
    expect(code, err).toBe(0);
    const report = JSON.parse(out) as ReliabilityReport;
    expect(report.groups).toEqual([]);
    expect(report.page).toEqual({ offset: 0, limit: 1, groups: 0 });
  });

  it('walks again once, at the same period, when the data changed during --all, saying so once', async () => {
    // a failure stored between the first page and the second, as a device's would be
    const { code, out, err, urls } = await ctlVia(['reports', 'reliability', ...period, '--all', '--limit', '100', '--json'], (res, n) => {
      if (n === 1) storeNow(() => records().store('events', fx.event('gw-1', 1000, { assetId: 'machine-1', time: at(120), at: at(120) }), 'sha-late', Date.parse(at(120))));
      return res;
    });
    expect(code, err).toBe(0);
    expect(err.split('\n')).toEqual(['page 1/3', 'page 2/3', 'pdmctl: the data changed during the walk (page 2); walking again from the first page', 'page 1/3', 'page 2/3', 'page 3/3', '']);
    expect(urls.map((u) => new URL(u).searchParams.get('offset'))).toEqual([null, '100', '0', '100', '200']);
    const whole = await json(`${PERIOD}&groupBy=asset&limit=1000`);
    expect(out).toBe(`${JSON.stringify({ ...whole, page: { offset: 0, limit: ASSETS + 3, groups: ASSETS + 3 } })}\n`);
  });

  it('fails with CONFLICT (exit 1) when the data changed again during the second walk', async () => {
    // a failure stored after every request, each an hour after the one before
    const { code, out, err } = await ctlVia(['reports', 'reliability', ...period, '--all', '--limit', '100', '--json'], (res, n) => {
      const t = at(130 + n);
      storeNow(() => records().store('events', fx.event('gw-2', 2000 + n, { assetId: 'machine-2', time: t, at: t }), `sha-late-${n}`, Date.parse(t)));
      return res;
    });
    expect(code).toBe(1);
    expect(err.split('\n')).toEqual(['page 1/3', 'page 2/3', 'pdmctl: the data changed during the walk (page 2); walking again from the first page', 'page 1/3', 'page 2/3',
      'pdmctl: CONFLICT: the data changed during the walk twice (the second time at page 2): groups may be missing or listed twice; run it again, or ask for the CSV (one body of every group)', '  groups: 253', '  pages: 3', '']);
    expect(JSON.parse(out)).toMatchObject({ error: { code: 'CONFLICT' } });
  });
});

const records = (): RecordsRepo => new RecordsRepo(c.app.database.handle);
const storeNow = (write: () => void): void => c.app.database.handle.transaction(write)();

/** pdmctl with every response passed through `answer` (n: the request's number from 1), the URLs asked for. */
async function ctlVia(args: string[], answer: (res: Response, n: number) => Response | Promise<Response> = (res) => res) {
  const urls: string[] = [];
  let out = '';
  let err = '';
  const via: typeof fetch = async (input, init) => {
    urls.push(String(input instanceof Request ? input.url : input));
    return answer(await fetch(input, init), urls.length);
  };
  const code = await runPdmctl(args, { env, fetch: via, writers: { stdout: (t) => { out += t; }, stderr: (t) => { err += t; } } });
  return { code, out, err, urls };
}

/**
 * `npm run bench:reports`: the reliability report endpoint at 10,000 devices x 90 days of data (issue 9;
 * goal p95 under 200 ms), JSON and CSV, grouped by asset, asset class and site, each request paired
 * with a `GET /healthz` (the same HTTP stack, no report) in the same run.
 *
 * Seeding (bench/lib/reports-seed.ts) goes through the controller's own store code on its own migrated database: DevicesRepo
 * .applyStatus for each device (asset, class, site), RecordsRepo.store for every record (records row and
 * per-kind rows, as ingest stores them) and QualityRepo.storeQuality for quality windows (as the quality
 * module does on ingest). Per device: a daily metric window and a daily quality window (the fleet
 * configuration's metricsWindowSeconds and the agent's quality window default) for 90 days, and machine
 * events: failures (~1 per asset), maintenance (~2) and downtime start/end pairs (~3), at random times.
 * The seeded database is kept in <tmpdir>/pdm-bench-reports-cache for the next run (PDM_BENCH_RESEED=1 seeds
 * it again); each run brings it to the current schema with the controller's own Database (migrations),
 * copies it (the run writes new data) and starts the built controller on the copy. Each variant is timed
 * twice per round: the first request after new data (one entered event: the report is rendered) and the
 * same request again (the data unchanged: the controller serves the body it kept), then once more after a metric
 * window past the data's end (the default period moves, as every metric window of a live fleet moves it).
 * Reports are timed by curl (Node's fetch reading a 48 MB body was most of its time); the kept bodies are
 * read once more by fetch for comparison with earlier runs. JSON is paged by default (issue 9): by asset
 * the default page, the largest page and the dashboard's; by class and site every group (fewer than 100)
 * with and without the per-asset lists; CSV the whole table. Each round then walks every page of 1000 of
 * the JSON by asset after new data and again (the export: its total time, not in the p95 table).
 * Env: PDM_BENCH_DEVICES (10000), PDM_BENCH_DAYS (90), PDM_BENCH_REQUESTS (40 per variant: a
 * nearest-rank p95 of fewer than 20 samples is their maximum), PDM_BENCH_WARMUP (1),
 * PDM_BENCH_GROUPS (asset,assetClass,site), PDM_BENCH_RSS_TRACE=1 (the controller's memory after every round:
 * bench/lib/rss-trace.ts; printed, not written to RESULTS.md).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { PdmError, type MetricWindow } from '@pdm/protocol';
import { Database, writeTransaction } from '../controller/dist/db/database.js';
import { RecordsRepo } from '../controller/dist/db/records-repo.js';
import { controllerHasDeviceAuth, memoryOf, startBenchController } from './lib/controller.js';
import { DAY, MODEL, START, iso, seed } from './lib/reports-seed.js';
import { formatSample, formatTrace, sampleMemory, type RssSample } from './lib/rss-trace.js';
import { loadNow, percentile, resultsSection, runHeader } from './results.js';

const execFileAsync = promisify(execFile);
const DEVICES = Number(process.env['PDM_BENCH_DEVICES'] ?? 10_000);
const DAYS = Number(process.env['PDM_BENCH_DAYS'] ?? 90);
const REQUESTS = Number(process.env['PDM_BENCH_REQUESTS'] ?? 40);
const RSS_TRACE = process.env['PDM_BENCH_RSS_TRACE'] === '1';
const GOAL_MS = 200;
interface Variant {
  readonly label: string;
  readonly path: string;
}

/** PDM_BENCH_GROUPS: which groupings to request (default all three). */
const GROUPS = (process.env['PDM_BENCH_GROUPS'] ?? 'asset,assetClass,site').split(',');

const REPORT = '/api/v1/reports/reliability';

/**
 * Each grouping as a client asks for it: JSON as the API answers it without paging parameters (by asset a
 * page of 100 groups; by class or site every group, fewer than 100), CSV (the whole groups table, the
 * export), and the lighter forms: by asset the largest page (1000) and the dashboard's page, by class or
 * site the report without the per-asset lists.
 */
const variants: Variant[] = GROUPS.flatMap((g): Variant[] => g === 'asset'
  ? [
    { label: 'JSON, groupBy=asset, default page (100 groups at offset 0)', path: `${REPORT}?groupBy=asset` },
    { label: 'JSON, groupBy=asset, largest page (limit=1000&offset=4000)', path: `${REPORT}?groupBy=asset&limit=1000&offset=4000` },
    { label: 'JSON, groupBy=asset, the dashboard\'s page (sort=availability&limit=20)', path: `${REPORT}?groupBy=asset&sort=availability&limit=20` },
    { label: 'CSV, groupBy=asset (every group)', path: `${REPORT}?groupBy=asset&format=csv` },
  ]
  : [
    { label: `JSON, groupBy=${g}`, path: `${REPORT}?groupBy=${g}` },
    { label: `JSON, groupBy=${g}, perAsset=omit`, path: `${REPORT}?groupBy=${g}&perAsset=omit` },
    { label: `CSV, groupBy=${g}`, path: `${REPORT}?groupBy=${g}&format=csv` },
  ]);

/** The export: every group of the JSON by asset, walked in pages of the largest size (WALK_PAGES of them). */
const WALK = { label: 'JSON, groupBy=asset, every page of 1000 (offset 0, 1000, ...)', path: `${REPORT}?groupBy=asset&limit=1000` };
/** The pages of a walk: one an asset (seed() gives every device its own asset), 1000 a page. */
const WALK_PAGES = Math.ceil(DEVICES / 1000);

interface Timed {
  ms: number;
  bytes: number;
  cache: string | null;
}

async function timedGet(url: string): Promise<Timed> {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  const ms = performance.now() - t0;
  // /healthz answers 503 (with what is down) when a long report made the controller's own link drop: still a timing
  if (!res.ok && !(res.status === 503 && url.endsWith('/healthz'))) throw new PdmError('INTERNAL', `GET ${url}: HTTP ${res.status}`, { context: { body: Buffer.from(body).toString('utf8').slice(0, 300) } });
  return { ms, bytes: body.byteLength, cache: res.headers.get('x-pdm-report-cache') };
}

/**
 * A report request timed by curl (its time_total, body written to /dev/null): a 48 MB body read by
 * Node's fetch and arrayBuffer() took ~850 ms at load 6 where curl took ~50 ms (2026-11-27), so the
 * bench's own client was most of a large report's time. Async, so that a /healthz can run meanwhile.
 */
async function curlGet(url: string): Promise<Timed> {
  const { stdout } = await execFileAsync('curl', ['-s', '-o', '/dev/null', '-D', '-', '-w', '\n%{time_total} %{size_download} %{http_code}', url], { encoding: 'utf8' });
  const [time, size, status] = stdout.trim().split('\n').at(-1)!.split(' ');
  if (status !== '200') throw new PdmError('INTERNAL', `GET ${url}: HTTP ${status}`);
  return { ms: Number(time) * 1000, bytes: Number(size), cache: /^x-pdm-report-cache: *(\w+)/im.exec(stdout)?.[1] ?? null };
}

/**
 * One walk of WALK's pages, one request at a time, each timed by curl. The offsets are counted (0, 1000, ...,
 * WALK_PAGES of them), not read from page.next: curl writes the body to /dev/null, and the scope's group
 * count is DEVICES, so the offsets are the ones page.next would give.
 */
async function walkPages(httpUrl: string): Promise<{ ms: number; bytes: number; hits: number; pages: number }> {
  const walked = { ms: 0, bytes: 0, hits: 0, pages: 0 };
  for (let offset = 0; offset < WALK_PAGES * 1000; offset += 1000) {
    const t = await curlGet(`${httpUrl}${WALK.path}&offset=${offset}`);
    walked.ms += t.ms;
    walked.bytes += t.bytes;
    walked.pages += 1;
    if (t.cache === 'hit') walked.hits += 1;
  }
  return walked;
}

/** New data: one maintenance entered through the API (a real write path; it bumps the reports' data generation). */
async function enterEvent(httpUrl: string, token: string, n: number): Promise<void> {
  const at = START + 10 * DAY + n * 3_600_000;
  const res = await fetch(`${httpUrl}/api/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'maintenance', assetId: `asset-${n % DEVICES}`, at: iso(at), end: iso(at + 1_800_000), component: 'comp1', note: 'bench:reports new data' }),
  });
  if (!res.ok) throw new PdmError('INTERNAL', `POST /api/v1/events: HTTP ${res.status}`, { context: { body: await res.text() } });
}

/**
 * New data that moves the default period (it ends at the latest data): a metric window of one device
 * after the data's end, stored by the controller's own RecordsRepo on a second connection to the run's
 * database (as another writer would; the controller's reports see the committed generation move). In a
 * live fleet every metric window does this.
 */
function storeWindowAfterEnd(writer: BetterSqlite3.Database, records: RecordsRepo, n: number): void {
  const from = START + DAYS * DAY + (n - 1) * 3_600_000;
  const i = n % DEVICES;
  const record: MetricWindow = {
    deviceId: `dev-${i}`, seq: 1_000_000 + n, time: iso(from + 3_600_000), assetId: `asset-${i}`, windowStart: iso(from), windowEnd: iso(from + 3_600_000),
    readings: 24, rejectedReadings: {}, inferences: 24, inferenceErrors: 0, alerts: 0, latencyMs: { p50: 0.1, p95: 0.2, max: 0.5 }, model: MODEL,
  };
  // a second writer beside the controller's: BEGIN IMMEDIATE, as the controller's own writes (db/database.ts)
  const outcome = writeTransaction(writer, () => records.store('metrics', record, createHash('sha256').update(JSON.stringify(record)).digest('hex'), from + 3_600_000))();
  if (outcome !== 'stored') throw new PdmError('INTERNAL', 'metric window not stored', { context: { n, outcome } });
}

/** Brings the seeded database to this controller's schema with the controller's own code (no reseed for a new migration). */
async function migrateCache(dataDir: string): Promise<void> {
  const database = new Database({ dataDir }, pino({ level: 'silent' }) as never);
  await database.start();
  database.handle.pragma('wal_checkpoint(TRUNCATE)');
  await database.stop();
}

type Series = { ms: number[]; bytes: number };

interface Run {
  httpUrl: string;
  token: string;
  /** The second connection to the controller's database that stores metric windows. */
  writer: BetterSqlite3.Database;
  records: RecordsRepo;
  series: (label: string) => Series;
}

/**
 * One round of a variant: /healthz, new data (entered event number n), the report rendered with a /healthz
 * sent into it, again kept (curl, then Node's fetch), then a metric window past the end (number w) and
 * the report rendered again.
 */
async function timeVariant(v: Variant, run: Run, n: number, w: number): Promise<void> {
  const { httpUrl, series } = run;
  const h = await timedGet(`${httpUrl}/healthz`);
  series('healthz').ms.push(h.ms);
  await enterEvent(httpUrl, run.token, n);
  // a /healthz sent while the report renders: is the controller's event loop free meanwhile?
  const during = new Promise<Timed>((resolve, reject) => setTimeout(() => timedGet(`${httpUrl}/healthz`).then(resolve, reject), 20));
  const fresh = await curlGet(`${httpUrl}${v.path}`);
  series('healthz during').ms.push((await during).ms);
  const again = await curlGet(`${httpUrl}${v.path}`);
  // the same kept body read by Node's fetch, as the runs before this one timed every request
  series(`${v.label}|kept-fetch`).ms.push((await timedGet(`${httpUrl}${v.path}`)).ms);
  if (fresh.cache !== 'miss' || again.cache !== 'hit') throw new PdmError('INTERNAL', 'report cache did not behave as the bench assumes', { context: { fresh: fresh.cache, again: again.cache } });
  Object.assign(series(`${v.label}|new`), { bytes: fresh.bytes }).ms.push(fresh.ms);
  Object.assign(series(`${v.label}|kept`), { bytes: again.bytes }).ms.push(again.ms);
  // then a metric window after the data's end: the default period moves
  storeWindowAfterEnd(run.writer, run.records, w);
  const moved = await curlGet(`${httpUrl}${v.path}`);
  if (moved.cache !== 'miss') throw new PdmError('INTERNAL', 'report cache did not behave as the bench assumes', { context: { moved: moved.cache } });
  Object.assign(series(`${v.label}|moved`), { bytes: moved.bytes }).ms.push(moved.ms);
  process.stderr.write(`[bench:reports] ${v.label}: after new data ${fresh.ms.toFixed(0)} ms, repeated ${again.ms.toFixed(0)} ms, period moved ${moved.ms.toFixed(0)} ms (healthz before ${h.ms.toFixed(0)} ms)\n`);
}

/** The export: every page after new data (entered event number n; each page rendered), then every page again (kept while the bodies fit the budget). */
async function exportWalk(httpUrl: string, token: string, n: number, series: (label: string) => Series): Promise<void> {
  await enterEvent(httpUrl, token, n);
  const rendered = await walkPages(httpUrl);
  const again = await walkPages(httpUrl);
  if (rendered.hits > 0) throw new PdmError('INTERNAL', 'report cache did not behave as the bench assumes', { context: { renderedWalkHits: rendered.hits } });
  Object.assign(series('walk|new'), { bytes: rendered.bytes }).ms.push(rendered.ms);
  Object.assign(series('walk|kept'), { bytes: again.bytes }).ms.push(again.ms);
  series('walk|kept hits').ms.push(again.hits);
  process.stderr.write(`[bench:reports] ${WALK.label}: ${rendered.pages} pages after new data ${rendered.ms.toFixed(0)} ms, again ${again.ms.toFixed(0)} ms (${again.hits} kept)\n`);
}

async function main(): Promise<void> {
  const loadAtStart = loadNow();
  // seeding takes minutes: the seeded database is kept in the temp dir for the next run (PDM_BENCH_RESEED=1: seed again)
  const cacheDir = join(tmpdir(), 'pdm-bench-reports-cache', `${DEVICES}x${DAYS}-v1`);
  const marker = join(cacheDir, 'seeded.json');
  const runDir = join(tmpdir(), 'pdm-bench-reports-run');
  try {
    if (process.env['PDM_BENCH_RESEED'] === '1' || !existsSync(marker)) {
      rmSync(cacheDir, { recursive: true, force: true });
      mkdirSync(cacheDir, { recursive: true });
      writeFileSync(marker, JSON.stringify(await seed(cacheDir, DEVICES, DAYS)));
    }
    const seeded = JSON.parse(readFileSync(marker, 'utf8')) as { records: number; seconds: number; bytes: number };
    process.stderr.write(`[bench:reports] ${seeded.records} records (seeded in ${seeded.seconds.toFixed(0)} s)\n`);
    const migrateAt = Date.now();
    await migrateCache(cacheDir);
    const migrateSeconds = (Date.now() - migrateAt) / 1000;
    // the run writes new data (entered events): it runs on a copy, so every run starts from the same seeded data
    rmSync(runDir, { recursive: true, force: true });
    cpSync(cacheDir, runDir, { recursive: true });
    const startAt = Date.now();
    const ctl = await startBenchController({ dataDir: runDir, readyTimeoutMs: 900_000 });
    const startSeconds = (Date.now() - startAt) / 1000;
    process.stderr.write(`[bench:reports] cache migrated in ${migrateSeconds.toFixed(0)} s; controller ready after ${startSeconds.toFixed(0)} s\n`);
    const token = readFileSync(join(runDir, 'admin.token'), 'utf8').trim();
    const times = new Map<string, Series>();
    const series = (label: string): Series => {
      let t = times.get(label);
      if (t === undefined) times.set(label, (t = { ms: [], bytes: 0 }));
      return t;
    };
    let entered = 0;
    let windows = 0;
    const writer = new BetterSqlite3(join(runDir, 'controller.db'));
    writer.pragma('busy_timeout = 5000');
    const records = new RecordsRepo(writer);
    const trace: RssSample[] = [];
    const traceAt = async (label: string): Promise<void> => {
      if (!RSS_TRACE) return;
      const sample = await sampleMemory(label, ctl.program.pid!, ctl.httpUrl);
      trace.push(sample);
      process.stderr.write(`[bench:reports] memory MiB ${formatSample(sample)}\n`);
    };
    try {
      await traceAt('start');
      // warm-up: one of each (statement compilation, page cache); PDM_BENCH_WARMUP=0 skips it when a report takes seconds
      if (process.env['PDM_BENCH_WARMUP'] !== '0') for (const v of variants) await timedGet(`${ctl.httpUrl}${v.path}`);
      for (let i = 0; i < REQUESTS; i++) {
        for (const v of variants) await timeVariant(v, { httpUrl: ctl.httpUrl, token, writer, records, series }, entered++, ++windows);
        if (GROUPS.includes('asset')) await exportWalk(ctl.httpUrl, token, entered++, series);
        process.stderr.write(`[bench:reports] round ${i + 1}/${REQUESTS}\n`);
        await traceAt(`round ${i + 1}`);
      }
      if (RSS_TRACE) process.stdout.write(`Controller memory (MiB) after each round, PDM_BENCH_RSS_TRACE=1:\n${formatTrace(trace)}\n\n`);
      report({ seeded, times, rssMiB: memoryOf(ctl.program.pid!).rss / 2 ** 20, loadAtStart, startSeconds, migrateSeconds });
    } finally {
      writer.close();
      await ctl.stop();
      rmSync(runDir, { recursive: true, force: true });
    }
  } catch (err) {
    // a half-seeded database is not kept
    if (!existsSync(marker)) rmSync(cacheDir, { recursive: true, force: true });
    throw err;
  }
}

function report(r: { seeded: { records: number; seconds: number; bytes: number }; times: Map<string, Series>; rssMiB: number; loadAtStart: string; startSeconds: number; migrateSeconds: number }): void {
  const of = (label: string): Series => r.times.get(label) ?? { ms: [], bytes: 0 };
  const health = of('healthz').ms;
  const during = of('healthz during').ms;
  const p95 = (label: string): number => percentile(of(label).ms, 95);
  const kinds = { new: 'first request after an entered event (rendered)', moved: 'first request after a metric window past the end (period moves; rendered)', kept: 'repeated, data unchanged (kept body)' };
  const row = (v: Variant, kind: keyof typeof kinds): string => {
    const t = of(`${v.label}|${kind}`);
    const label = `${v.label}, ${kinds[kind]}`;
    return `| ${label} | ${percentile(t.ms, 50).toFixed(0)} | ${p95(`${v.label}|${kind}`).toFixed(0)} | ${Math.max(...t.ms).toFixed(0)} | ${(t.bytes / 1024).toFixed(0)} KiB | ${p95(`${v.label}|${kind}`) < GOAL_MS ? 'met' : 'MISSED'} |`;
  };
  const worst = (kind: keyof typeof kinds) => Math.max(...variants.map((v) => p95(`${v.label}|${kind}`)));
  const body = `Command: \`flock /tmp/pdm-bench.lock npm run bench:reports\` (\`tsc -b\`, then bench/reports.ts; controller = controller/dist/main.js).
${runHeader(r.loadAtStart)}
Data: ${DEVICES} devices x ${DAYS} days, seeded through the controller's own store code (DevicesRepo, RecordsRepo, QualityRepo) on its
migrated database: a daily metric window and a daily quality window per device, ~9 machine events per device
(failures, maintenance, downtime start/end pairs); ${r.seeded.records} records, database ${(r.seeded.bytes / 2 ** 20).toFixed(0)} MiB, seeded in ${r.seeded.seconds.toFixed(0)} s
(kept in <tmpdir>/pdm-bench-reports-cache, brought to the current schema by the controller's Database in ${r.migrateSeconds.toFixed(0)} s, and copied for the run).
Requests: ${REQUESTS} rounds${process.env['PDM_BENCH_WARMUP'] === '0' ? ' (no warm-up)' : ' after one warm-up request of each variant'}, one request at a time over HTTP/1.1 on loopback, reports timed by curl
(time_total, body to /dev/null), /healthz by Node's fetch. Per variant and round:
\`GET /healthz\` (baseline), then new data (one maintenance \`POST /api/v1/events\`, which changes what reports read), then the report
(rendered: the first request after new data) with a \`GET /healthz\` sent 20 ms into it, then the same report again (data unchanged:
the body kept from the request before, header \`x-pdm-report-cache: hit\`), then a metric window one hour past the data's end (one
device's, stored with RecordsRepo on a second connection to the database) and the report again (rendered: the default period moved,
as every metric window of a live fleet moves it). Default quality-alert interval (30 s).
Device authentication: ${controllerHasDeviceAuth() ? '`--device-auth none`' : 'n/a'} (no devices connect).

| request | p50 ms | p95 ms | max ms | response | p95 < ${GOAL_MS} ms |
|---|---:|---:|---:|---:|---|
| baseline: GET /healthz | ${percentile(health, 50).toFixed(0)} | ${percentile(health, 95).toFixed(0)} | ${Math.max(...health).toFixed(0)} | - | - |
| GET /healthz sent while a report renders | ${percentile(during, 50).toFixed(0)} | ${percentile(during, 95).toFixed(0)} | ${Math.max(...during).toFixed(0)} | - | - |
${variants.flatMap((v) => [row(v, 'new'), row(v, 'moved'), row(v, 'kept')]).join('\n')}

- worst report p95, first request after an entered event: ${worst('new').toFixed(0)} ms (goal < ${GOAL_MS} ms: ${worst('new') < GOAL_MS ? 'met' : 'MISSED'}); after a metric window that moves the period: ${worst('moved').toFixed(0)} ms (${worst('moved') < GOAL_MS ? 'met' : 'MISSED'}); repeated with data unchanged: ${worst('kept').toFixed(0)} ms (${worst('kept') < GOAL_MS ? 'met' : 'MISSED'}).
- kept bodies read by Node's fetch + arrayBuffer() instead of curl (p50): ${variants.map((v) => `${v.label} ${percentile(of(`${v.label}|kept-fetch`).ms, 50).toFixed(0)} ms`).join('; ')}.
${walkLines(of)}
- controller start on this database (spawn to "controller ready"): ${r.startSeconds.toFixed(0)} s; RSS after the requests: ${r.rssMiB.toFixed(0)} MiB.
`;
  resultsSection('Reliability report at 10,000 devices x 90 days (issue 9)', body);
  process.stdout.write(`${body}\n`);
}

/** The export's line (not in the p95 table: a walk of 10 requests is an export, not an interactive request); the unpaged form it replaces is in the section's hand-written text. */
function walkLines(of: (label: string) => Series): string {
  const rendered = of('walk|new');
  const kept = of('walk|kept');
  if (rendered.ms.length === 0) return '';
  const mbps = (t: Series, ms: number): string => (t.bytes / 1e6 / (ms / 1000)).toFixed(0);
  const p50 = (t: Series): number => percentile(t.ms, 50);
  const hits = of('walk|kept hits').ms;
  return `- export, ${WALK.label} (${WALK_PAGES} requests one after another, curl; ${(rendered.bytes / 2 ** 20).toFixed(1)} MiB in all), whole walk: after an entered event (every page rendered) p50 ${p50(rendered).toFixed(0)} ms (${mbps(rendered, p50(rendered))} MB/s), max ${Math.max(...rendered.ms).toFixed(0)} ms; walked again, data unchanged, p50 ${p50(kept).toFixed(0)} ms (${mbps(kept, p50(kept))} MB/s), max ${Math.max(...kept.ms).toFixed(0)} ms, pages served kept ${Math.min(...hits)}-${Math.max(...hits)} of ${WALK_PAGES}.`;
}

await main();

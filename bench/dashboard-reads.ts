/**
 * What one dashboard refresh makes the controller do at 10,000 devices x 90 days, before and after the
 * dashboard read summaries (controller/src/web/dashboard.js): CPU per render of each read, in this
 * process, on a copy of bench:reports' seeded database (run `npm run bench:reports` once to seed it).
 *
 * - before: GET /api/v1/devices (every device's view) and the report by asset (48 MB);
 * - after: GET /api/v1/fleet/summary?top=20 and the 20 least available assets
 *   (groupBy=asset&sort=availability&limit=20; a page's totals, trend and cause Paretos are the whole scope's);
 * - and the cost of sort itself: the same page of 20 in key order, by availability and by downtime.
 *
 * Each report is rendered after new data (one maintenance event stored for another asset before it, as
 * a device sends one: what a live fleet does between two refreshes) and again with the data unchanged
 * (the service's kept state; the controller would also serve the kept body, report-jobs.ts). Variants
 * interleaved, their order rotated each round; median and max of PDM_BENCH_ROUNDS (default 7).
 * `flock /tmp/pdm-bench.lock npm run bench:dashboard`; PDM_BENCH_NO_RESULTS=1:
 * print only; PDM_BENCH_SIDES=after,sort: only those reads.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { PdmError, type MachineEvent } from '@pdm/protocol';
import { Database } from '../controller/dist/db/database.js';
import { DevicesRepo } from '../controller/dist/db/devices-repo.js';
import { RecordsRepo } from '../controller/dist/db/records-repo.js';
import { ReliabilityService, type ReportScope } from '../controller/dist/reliability/reliability-service.js';
import { loadNow, median, percentile, resultsSection, runHeader } from './results.js';

const ROUNDS = Number(process.env['PDM_BENCH_ROUNDS'] ?? 7);
const CACHE = join(tmpdir(), 'pdm-bench-reports-cache', '10000x90-v1');
const START = Date.parse('2026-08-01T00:00:00.000Z');
const DAY = 86_400_000;

interface Read {
  readonly label: string;
  readonly side: 'before' | 'after' | 'sort';
  readonly report?: ReportScope;
  readonly run?: () => Uint8Array;
}

async function main(): Promise<void> {
  if (!existsSync(join(CACHE, 'seeded.json'))) throw new PdmError('INTERNAL', 'no seeded database: run npm run bench:reports once', { context: { cache: CACHE } });
  const loadAtStart = loadNow();
  const runDir = mkdtempSync(join(tmpdir(), 'pdm-bench-dashboard-'));
  try {
    cpSync(CACHE, runDir, { recursive: true });
    const database = new Database({ dataDir: runDir }, pino({ level: 'silent' }) as never);
    await database.start();
    const db = database.handle;
    const devices = new DevicesRepo(db);
    const records = new RecordsRepo(db);
    const service = new ReliabilityService(() => db, { failureHours: 8, maintenanceHours: 2 }, { now: () => Date.now() });
    const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
    const week = { bucket: 'week' as const };
    const reads: Read[] = [
      { label: 'GET /api/v1/devices (every device)', side: 'before', run: () => { const all = devices.list({}); return json({ count: all.length, devices: all }); } },
      { label: 'JSON, groupBy=asset (whole report)', side: 'before', report: { ...week, groupBy: 'asset' } },
      { label: 'GET /api/v1/fleet/summary?top=20', side: 'after', run: () => json(devices.summary({}, 20)) },
      { label: 'JSON, groupBy=asset, sort=availability, limit=20', side: 'after', report: { ...week, groupBy: 'asset', sort: 'availability', limit: 20 } },
      { label: 'JSON, groupBy=asset, limit=20 (sort=key)', side: 'sort', report: { ...week, groupBy: 'asset', sort: 'key', limit: 20 } },
      { label: 'JSON, groupBy=asset, sort=downtime, limit=20', side: 'sort', report: { ...week, groupBy: 'asset', sort: 'downtime', limit: 20 } },
      { label: 'CSV, groupBy=asset, limit=20 (sort=key)', side: 'sort', report: { ...week, groupBy: 'asset', sort: 'key', limit: 20 } },
      { label: 'CSV, groupBy=asset, sort=availability, limit=20', side: 'sort', report: { ...week, groupBy: 'asset', sort: 'availability', limit: 20 } },
    ];
    // PDM_BENCH_SIDES: which reads (before, after, sort; default all)
    const sides = (process.env['PDM_BENCH_SIDES'] ?? 'before,after,sort').split(',');
    for (let i = reads.length - 1; i >= 0; i--) if (!sides.includes(reads[i]!.side)) reads.splice(i, 1);
    const csv = (r: Read) => r.label.startsWith('CSV');
    const render = (r: Read): Uint8Array => (r.run !== undefined ? r.run() : service.render(r.report!, csv(r) ? 'csv' : 'json').body);
    let n = 0;
    // one maintenance of another asset, stored as ingest stores a device's event: every report after it renders anew
    const newEvent = (): void => {
      n += 1;
      const at = START + 10 * DAY + n * 3_600_000;
      const event: MachineEvent = { deviceId: `dev-${n}`, seq: 100_000_000 + n, time: new Date(at).toISOString(), assetId: `asset-${n}`, type: 'maintenance', at: new Date(at).toISOString(), component: 'comp1', source: 'sensor' };
      const payload = JSON.stringify(event);
      if (records.store('events', event, createHash('sha256').update(payload).digest('hex'), at) !== 'stored') throw new PdmError('INTERNAL', 'bench event not stored');
    };
    const timed = (r: Read): { ms: number; bytes: number } => {
      const t0 = performance.now();
      const body = render(r);
      return { ms: performance.now() - t0, bytes: body.byteLength };
    };
    for (const r of reads) render(r); // warm-up: statements, kept state, JIT
    const fresh = new Map<string, number[]>();
    const kept = new Map<string, number[]>();
    const bytes = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < reads.length; k++) {
        const r = reads[(k + round) % reads.length]!;
        newEvent();
        const a = timed(r);
        const b = timed(r);
        (fresh.get(r.label) ?? fresh.set(r.label, []).get(r.label)!).push(a.ms);
        (kept.get(r.label) ?? kept.set(r.label, []).get(r.label)!).push(b.ms);
        bytes.set(r.label, a.bytes);
      }
      process.stderr.write(`[bench:dashboard] round ${round + 1}/${ROUNDS}\n`);
    }
    await database.stop();
    const row = (r: Read): string => {
      const f = fresh.get(r.label)!;
      const k = kept.get(r.label)!;
      return `| ${r.side} | ${r.label} | ${median(f).toFixed(0)} | ${percentile(f, 100).toFixed(0)} | ${median(k).toFixed(0)} | ${(bytes.get(r.label)! / 1024).toFixed(0)} KiB |`;
    };
    const sum = (side: Read['side'], of: Map<string, number[]>): number => reads.filter((r) => r.side === side).reduce((s, r) => s + median(of.get(r.label)!), 0);
    const size = (side: Read['side']): number => reads.filter((r) => r.side === side).reduce((s, r) => s + bytes.get(r.label)!, 0);
    const body = `Command: \`flock /tmp/pdm-bench.lock npm run bench:dashboard\` (PDM_BENCH_ROUNDS=${ROUNDS}, PDM_BENCH_SIDES=${sides.join(',')}).
${runHeader(loadAtStart)}
Data: bench:reports' seeded database (10,000 devices x 90 days), copied. In this process, no HTTP: CPU per read of what a
dashboard refresh asks for, by the controller's own code (DevicesRepo, ReliabilityService.render as the report worker calls it).
"After new data": one maintenance event of another asset stored (RecordsRepo) right before the read; "unchanged": the same
read again (the service's kept state; over HTTP the kept body would be served, ~1-2 ms). Reads interleaved, order rotated per round.

| dashboard | read | after new data: median ms | max ms | unchanged: median ms | body |
|---|---|---:|---:|---:|---:|
${reads.map(row).join('\n')}

${sides.includes('before') && sides.includes('after') ? `- one refresh's reads, before: ${sum('before', fresh).toFixed(0)} ms after new data (${sum('before', kept).toFixed(0)} unchanged), ${(size('before') / 1024 / 1024).toFixed(1)} MiB; after: ${sum('after', fresh).toFixed(0)} ms (${sum('after', kept).toFixed(0)} unchanged), ${(size('after') / 1024).toFixed(0)} KiB (medians added up).\n` : ''}`;
    process.stdout.write(`${body}\n`);
    if (process.env['PDM_BENCH_NO_RESULTS'] !== '1') resultsSection('Dashboard reads at 10,000 devices x 90 days (issue 9)', body);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

await main();

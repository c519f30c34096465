/**
 * The worker thread of ReportJobs (report-jobs.ts): renders reliability reports on its own read-only
 * connection to the controller's database, so that a report of a large fleet (seconds at 10,000 assets,
 * bench:reports) never holds the controller's event loop: its broker link, its API and its ingest run on.
 * An entry point, like main.ts: it does its work when the thread loads it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { RepairAssumptions } from './intervals.js';
import { ReliabilityService, type ReportFormat, type ReportScope } from './reliability-service.js';

export interface WorkerInit {
  file: string;
  assumptions: RepairAssumptions;
}

export interface RenderJob {
  id: number;
  query: ReportScope;
  format: ReportFormat;
  /** The controller's clock when the request came (the period's end when there is no data). */
  now: number;
}

export type RenderResult =
  | { id: number; generation: number; cacheable: boolean; body: Uint8Array }
  | { id: number; error: { message: string; code: string | undefined } };

const port = parentPort;
if (port !== null) {
  const init = workerData as WorkerInit;
  const db = new BetterSqlite3(init.file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 2000');
  let now = 0;
  const service = new ReliabilityService(() => db, init.assumptions, { now: () => now });
  port.on('message', (job: RenderJob) => {
    now = job.now;
    let result: RenderResult;
    try {
      const r = service.render(job.query, job.format);
      // a buffer of its own (never a pooled Buffer: reliability-service.ts), handed over without a copy
      result = { id: job.id, generation: r.generation, cacheable: r.cacheable, body: r.body };
      port.postMessage(result, [r.body.buffer]);
    } catch (err) {
      result = { id: job.id, error: { message: (err as Error).message, code: (err as { code?: string }).code } };
      port.postMessage(result);
    }
  });
}

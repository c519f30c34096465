/**
 * Reliability reports as response bodies, rendered off the event loop and kept until the data changes.
 *
 * - A worker thread (report-worker.ts) renders them on its own read-only connection: at 10,000 assets
 *   a report takes seconds, which on the controller's thread dropped its broker link (bench:reports).
 *   Running from sources (vitest) there is no built worker file, and an in-memory database cannot be
 *   opened twice: then the report renders in process, as before.
 * - A rendered body is kept with the generation of the data it read (migration 009's report_data,
 *   bumped by triggers in every transaction that changes what reports read) and served again while
 *   the committed generation is the same. New data of any writer (also another controller on the same
 *   database) makes the next request render anew. Requests for the same report share one rendering.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { RepairAssumptions } from './intervals.js';
import { Lru } from './lru.js';
import { dataGeneration, type ReliabilityService, type ReportFormat, type ReportScope } from './reliability-service.js';
import type { RenderJob, RenderResult, WorkerInit } from './report-worker.js';

export interface ReportJobsDeps {
  db: () => Db;
  service: ReliabilityService;
  assumptions: RepairAssumptions;
  clock: Clock;
  log: Logger;
  /** Bytes of rendered bodies kept (default KEPT_BODY_BYTES). */
  cacheBytes?: number;
}

export interface RenderedBody {
  body: Uint8Array;
  /** hit: served from a body rendered earlier of the same data; miss: rendered for this request. */
  cache: 'hit' | 'miss';
}

interface Kept {
  generation: number;
  body: Uint8Array;
}

type Rendered = { generation: number; cacheable: boolean; body: Uint8Array };

/**
 * 64 MiB of kept bodies: JSON is paged (at most 1000 groups a body), so at 10,000 assets the largest
 * bodies are a page of 1000 assets (~5 MB), a report by class or site with its per-asset lists (~6 MB)
 * and the CSV of every asset (~1.2 MB). One walk of every page of 1000 is 49.6 MiB (bench:reports), so the
 * headroom is one walk: ~14 MiB left for the rest (the dashboard's page, the reports by class and site
 * with their lists fit, bench/RESULTS.md); a second walk at the same time, or a fleet past ~12,000 assets,
 * evicts pages that are then rendered again (slower, not wrong; no setting raises it yet).
 * It was 256 MiB while the unpaged report by asset was one 48 MB body.
 */
const KEPT_BODY_BYTES = 64 * 2 ** 20;

const WORKER_FILE = fileURLToPath(new URL('./report-worker.js', import.meta.url));

export class ReportJobs {
  readonly #deps: ReportJobsDeps;
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (r: Rendered) => void; reject: (err: Error) => void }>();
  /**
   * Bodies by request, dropped oldest first past the byte budget, weighed by the memory a body holds:
   * its whole buffer (report-body.ts makes it exactly the body's size). A body served is used: a hit
   * refreshes it, so that a page read often (the dashboard's) outlives a walk of every page.
   */
  readonly #kept: Lru<string, Kept>;
  readonly #rendering = new Map<string, Promise<Rendered>>();

  constructor(deps: ReportJobsDeps) {
    this.#deps = deps;
    this.#kept = new Lru({ max: deps.cacheBytes ?? KEPT_BODY_BYTES, weigh: (k) => k.body.buffer.byteLength });
  }

  async start(): Promise<void> {
    const db = this.#deps.db();
    if (db.memory || !existsSync(WORKER_FILE)) {
      this.#deps.log.info({ worker: false }, 'reliability reports render in process');
      return;
    }
    const init: WorkerInit = { file: db.name, assumptions: this.#deps.assumptions };
    const worker = new Worker(WORKER_FILE, { workerData: init });
    worker.on('message', (r: RenderResult) => this.#settle(r));
    worker.on('error', (err) => {
      // the reports that were waiting fail; later ones render in process
      this.#deps.log.error({ err }, 'reliability report worker failed');
      if (this.#worker === worker) this.#worker = undefined;
      this.#failPending(new PdmError('INTERNAL', 'reliability report worker failed', { cause: err }));
    });
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return;
      this.#deps.log.error({ code }, 'reliability report worker exited');
      this.#worker = undefined;
      this.#failPending(new PdmError('INTERNAL', 'reliability report worker exited', { context: { code } }));
    });
    worker.unref();
    this.#worker = worker;
  }

  async stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failPending(new PdmError('INTERNAL', 'controller stopping'));
    await worker?.terminate();
    this.#kept.clear();
  }

  /** The report's body: kept from an earlier request while the data is unchanged, else rendered now. */
  async render(query: ReportScope, format: ReportFormat): Promise<RenderedBody> {
    const key = JSON.stringify([format, Object.entries(query).sort(([a], [b]) => (a < b ? -1 : 1))]);
    const generation = dataGeneration(this.#deps.db());
    // a body of older data is no use: only a hit is made recent (a stale one would outlive valid ones)
    const kept = this.#kept.peek(key)?.generation === generation ? this.#kept.get(key) : undefined;
    if (kept !== undefined) return { body: kept.body, cache: 'hit' };
    const flight = `${key}@${generation}`;
    let rendering = this.#rendering.get(flight);
    if (rendering === undefined) {
      rendering = this.#renderNow(query, format).finally(() => this.#rendering.delete(flight));
      this.#rendering.set(flight, rendering);
    }
    const r = await rendering;
    // kept under the generation the rendering read, which may be newer than the one looked up above
    if (r.cacheable && (this.#kept.peek(key)?.generation ?? -1) <= r.generation) this.#kept.set(key, { generation: r.generation, body: r.body });
    return { body: r.body, cache: 'miss' };
  }

  #renderNow(query: ReportScope, format: ReportFormat): Promise<Rendered> {
    const now = this.#deps.clock.now();
    const worker = this.#worker;
    if (worker === undefined) {
      return Promise.resolve().then(() => {
        const r = this.#deps.service.render(query, format);
        return { generation: r.generation, cacheable: r.cacheable, body: r.body };
      });
    }
    return new Promise<Rendered>((resolve, reject) => {
      const job: RenderJob = { id: this.#nextId++, query, format, now };
      this.#pending.set(job.id, { resolve, reject });
      worker.postMessage(job);
    });
  }

  #settle(r: RenderResult): void {
    const waiting = this.#pending.get(r.id);
    if (waiting === undefined) return;
    this.#pending.delete(r.id);
    if ('error' in r) waiting.reject(new PdmError('INTERNAL', 'reliability report failed', { context: { reason: r.error.message, code: r.error.code } }));
    else waiting.resolve(r);
  }

  #failPending(err: Error): void {
    for (const waiting of this.#pending.values()) waiting.reject(err);
    this.#pending.clear();
  }
}

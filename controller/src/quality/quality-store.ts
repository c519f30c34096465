/**
 * Keeps the quality and drift tables in step with what ingest stores: a listener writes each new
 * record's row, and at start every stored record without a row is derived again (a crash between the
 * record's transaction and the listener loses nothing).
 */
import type { UpstreamSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import type { QualityRepo } from './quality-repo.js';

export class QualityStore {
  readonly #repo: () => QualityRepo;
  readonly #ingest: UpstreamSource;
  readonly #log: Logger;
  #off: (() => void)[] = [];

  /** `repo` is read at start, once the database is open. */
  constructor(repo: () => QualityRepo, ingest: UpstreamSource, log: Logger) {
    this.#repo = repo;
    this.#ingest = ingest;
    this.#log = log;
  }

  async start(): Promise<void> {
    const repo = this.#repo();
    // listen first, then derive: a record stored in between is written twice, which the key ignores
    this.#off.push(this.#ingest.on('quality', (r) => repo.storeQuality(r)));
    this.#off.push(this.#ingest.on('drift', (r) => repo.storeDrift(r)));
    const derived = repo.backfill();
    if (derived.quality + derived.drift > 0) this.#log.info(derived, 'quality rows derived from stored records');
  }

  async stop(): Promise<void> {
    for (const off of this.#off) off();
    this.#off = [];
  }
}

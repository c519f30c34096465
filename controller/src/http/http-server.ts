/** The HTTP API part: builds the fastify app over the open database and listens. */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { PdmError } from '@pdm/protocol';
import type { Health } from '../broker/broker-link.js';
import type { Database } from '../db/database.js';
import { DevicesRepo } from '../db/devices-repo.js';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { RecordsQuery } from '../db/records-query.js';
import type { Logger } from '../logger.js';
import { buildHttpApp } from './build-app.js';
import type { ApiContext } from './context.js';

export interface HttpServerOptions {
  host: string;
  port: number;
}

export class HttpServer {
  readonly #options: HttpServerOptions;
  readonly #database: Database;
  readonly #health: Record<string, () => Health>;
  readonly #log: Logger;
  #app: FastifyInstance | undefined;
  #port: number | undefined;

  readonly #extras: ApiExtras;

  constructor(options: HttpServerOptions, database: Database, health: Record<string, () => Health>, log: Logger, extras: ApiExtras = {}) {
    this.#options = options;
    this.#database = database;
    this.#health = health;
    this.#log = log;
    this.#extras = extras;
  }

  get port(): number {
    if (this.#port === undefined) throw new PdmError('INTERNAL', 'http server is not started');
    return this.#port;
  }

  /** The fastify instance, for inject() in tests. */
  get app(): FastifyInstance {
    if (this.#app === undefined) throw new PdmError('INTERNAL', 'http server is not started');
    return this.#app;
  }

  async start(): Promise<void> {
    this.#app = buildHttpApp(apiContext(this.#database, this.#health, this.#extras), this.#log);
    await this.#app.listen({ host: this.#options.host, port: this.#options.port });
    this.#port = (this.#app.server.address() as AddressInfo).port;
    this.#log.info({ port: this.#port, host: this.#options.host }, 'http listening');
  }

  async stop(): Promise<void> {
    if (this.#app === undefined) return;
    await this.#app.close();
    this.#app = undefined;
    this.#log.info({}, 'http stopped');
  }
}

/** Parts of the context that do not come from the database (metrics). */
export type ApiExtras = Pick<ApiContext, 'metrics' | 'fleet' | 'insights' | 'enrollment'>;

export function apiContext(database: Database, health: Record<string, () => Health>, extras: ApiExtras = {}): ApiContext {
  const db = database.handle;
  return { devices: new DevicesRepo(db), records: new RecordsQuery(db), stats: new IngestStatsRepo(db), health, ...extras };
}

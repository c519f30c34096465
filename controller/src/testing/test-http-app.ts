/**
 * The controller's HTTP app over a test database, for the tests of a file or describe block, asked
 * through fastify's inject (no socket): built and ready in a beforeAll, closed in an afterAll.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { PdmError } from '@pdm/protocol';
import type { Health } from '../broker/broker-link.js';
import type { Database } from '../db/database.js';
import { buildHttpApp } from '../http/build-app.js';
import { apiContext } from '../http/http-server.js';
import type { Logger } from '../logger.js';

export interface TestHttpApp {
  /** What /healthz checks: the database and a broker that runs. A test may replace a check. */
  readonly health: Record<string, () => Health>;
  /** GET `url`; the body parsed from JSON, typed loosely: each test knows the shape its route answers. */
  get(url: string): Promise<{ status: number; body: any }>;
}

/**
 * Call it at collection time after suiteDatabase(): its beforeAll then runs once the database is open
 * (apiContext prepares statements on it), and its afterAll closes the app before the database closes.
 * Seeding hooks may come before or after it: routes read the database per request.
 */
export function suiteHttpApp(database: Database, log: Logger): TestHttpApp {
  const health: Record<string, () => Health> = { db: () => database.health(), broker: () => ({ ok: true }) };
  let app: FastifyInstance | undefined;
  const built = (): FastifyInstance => {
    if (app === undefined) throw new PdmError('INTERNAL', 'the test HTTP app is used before its beforeAll built it');
    return app;
  };
  beforeAll(async () => {
    app = buildHttpApp(apiContext(database, health), log);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });
  return {
    health,
    get: async (url) => {
      const res = await built().inject({ method: 'GET', url });
      return { status: res.statusCode, body: res.json() };
    },
  };
}

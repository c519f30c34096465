/**
 * The controller's database on a real SQLite file in a fresh temp dir, for tests, with its stop and the
 * dir's removal registered where it is opened, so no test file writes that cleanup again.
 * Two scopes, one way of opening: testDatabase() for one test (called in the test or a beforeEach),
 * suiteDatabase() for the tests of a file or describe block that share seeded data.
 * Not exported from ./index.js: it imports vitest, and that sub-export is also read outside the runner.
 */
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import { captureLogs } from './log-capture.js';
import { tempDir } from './temp-dir.js';

export interface TestDatabaseOptions {
  /** Default: a silent logger. Pass a captured one to assert on what the database logged. */
  log?: Logger;
  /**
   * Another connection to a database already open in this dir (two controllers on one file): the dir
   * is then left to the one that made it. Default: a fresh temp dir, removed at cleanup.
   */
  dataDir?: string;
}

interface TempDatabase {
  database: Database;
  /** Closes the database (a no-op when it never opened), then removes the dir it made. */
  close(): Promise<void>;
}

function tempDatabase(options: TestDatabaseOptions): TempDatabase {
  const dir = options.dataDir === undefined ? tempDir() : undefined;
  const database = new Database({ dataDir: options.dataDir ?? dir!.path }, options.log ?? captureLogs('silent').log);
  return {
    database,
    close: async () => {
      try {
        await database.stop();
      } finally {
        dir?.remove();
      }
    },
  };
}

/**
 * A started database for the current test, closed and removed when the test has finished: after the
 * test's own afterEach hooks, so parts built on it (sinks, brokers) are stopped before it closes.
 * Call it in a test or a beforeEach, not at collection time or in a beforeAll.
 */
export async function testDatabase(options: TestDatabaseOptions = {}): Promise<Database> {
  const { database, close } = tempDatabase(options);
  // registered before start, so a start that fails still removes the dir
  onTestFinished(close);
  await database.start();
  return database;
}

/**
 * A database for the tests of the enclosing file or describe block: started in a beforeAll, closed and
 * removed in an afterAll. Call it at collection time (module or describe scope) before the hooks that
 * seed it: beforeAll hooks run in order of registration, afterAll hooks in reverse, so it opens first
 * and closes last.
 */
export function suiteDatabase(options: TestDatabaseOptions = {}): Database {
  const { database, close } = tempDatabase(options);
  beforeAll(() => database.start());
  afterAll(close);
  return database;
}

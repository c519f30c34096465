/**
 * Another connection to a database file holding its write lock, on a thread of its own as the ingest
 * worker's connection is (better-sqlite3 is synchronous: while this thread waits for the lock, the
 * holder must run elsewhere to let it go).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const HOLDER = `
const { parentPort, workerData } = require('node:worker_threads');
const Sqlite = require(workerData.driver);
const db = new Sqlite(workerData.file);
db.exec('BEGIN IMMEDIATE');
if (workerData.sql !== undefined) db.exec(workerData.sql);
parentPort.postMessage('locked');
const release = () => { db.exec('COMMIT'); db.close(); parentPort.postMessage('released'); parentPort.close(); };
if (workerData.releaseAfterMs !== undefined) setTimeout(release, workerData.releaseAfterMs);
parentPort.once('message', release);
`;

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

export interface WriteLock {
  /** Resolves once the holder committed and closed its connection. */
  readonly released: Promise<void>;
  /** Commits now (when not released already) and waits for it. */
  release(): Promise<void>;
}

/**
 * Resolves once another connection holds the write lock of `file` (BEGIN IMMEDIATE, then `sql` if
 * given, uncommitted); it commits after `releaseAfterMs` or when released.
 */
export async function holdWriteLock(file: string, options: { sql?: string; releaseAfterMs?: number } = {}): Promise<WriteLock> {
  const worker = new Worker(HOLDER, { eval: true, workerData: { driver, file, ...options } });
  const said = (what: string) => new Promise<void>((resolve, reject) => {
    worker.on('message', (m) => { if (m === what) resolve(); });
    worker.once('error', reject);
  });
  const released = said('released');
  await said('locked');
  return {
    released,
    release: async () => {
      worker.postMessage('release');
      await released;
    },
  };
}

/**
 * The checkpoint thread of the ingest worker sink (worker-sink.ts): copies committed WAL pages into
 * the database file (a PASSIVE checkpoint, which never blocks a writer) when told a batch committed.
 *
 * Why a thread of its own: SQLite checkpoints inside the COMMIT that pushes the WAL past
 * `wal_autocheckpoint` pages, with its page copies and two fsyncs; in the record worker that was ~37%
 * of its busy time (bench:ingest profile), time in which it stored nothing. The record worker keeps a
 * far higher autocheckpoint as a backstop, so the WAL stays bounded if this thread falls behind.
 * An entry point, like main.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';

export interface CheckpointInit {
  file: string;
}

export type CheckpointRequest = { type: 'checkpoint' } | { type: 'close' };
export type CheckpointReply = { type: 'ready' } | { type: 'done'; error?: string };

const port = parentPort;
if (port !== null) {
  const init = workerData as CheckpointInit;
  const db = new BetterSqlite3(init.file, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
  port.on('message', (request: CheckpointRequest) => {
    if (request.type === 'close') {
      db.close();
      port.close();
      return;
    }
    let reply: CheckpointReply = { type: 'done' };
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      reply = { type: 'done', error: (err as Error).message };
    }
    port.postMessage(reply);
  });
  port.postMessage({ type: 'ready' } satisfies CheckpointReply);
}

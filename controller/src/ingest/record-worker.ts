/**
 * The ingest worker thread (worker-sink.ts): decodes and stores record batches on its own write
 * connection to the controller's database (record-batch.ts), so that this work runs on the machine's
 * other core while the controller's thread serves MQTT. An entry point, like main.ts: it does its work
 * when the thread loads it.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { RecordBatchWriter, errorInfo, type BatchResult, type ErrorInfo, type RawRecord } from './record-batch.js';
import { WalCheckpointer } from './wal-checkpoint.js';

export interface WorkerInit {
  file: string;
  /** busy_timeout of this connection, ms: how long a batch waits for the controller thread's writes. */
  busyTimeoutMs: number;
}

/** A batch, packed: the payloads one after the other in `bytes`, message i ending at `ends[i]`. */
export interface WriteJob {
  id: number;
  now: number;
  wanted: string[];
  topics: string[];
  live: Uint8Array<ArrayBuffer>;
  bytes: Uint8Array<ArrayBuffer>;
  ends: Uint32Array<ArrayBuffer>;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'start-failed'; error: ErrorInfo }
  | ({ type: 'result'; id: number } & BatchResult)
  | { type: 'error'; id: number; error: ErrorInfo };

export function unpack(job: WriteJob): RawRecord[] {
  let start = 0;
  return job.topics.map((topic, i) => {
    const end = job.ends[i]!;
    const raw = { topic, payload: job.bytes.subarray(start, end), live: job.live[i] === 1 };
    start = end;
    return raw;
  });
}

/** Answers each batch with its outcomes, until asked to close; checkpoints the WAL when idle (wal-checkpoint.ts). */
function serve(port: MessagePort, db: BetterSqlite3.Database, writer: RecordBatchWriter, checkpoints: WalCheckpointer): void {
  port.on('message', (job: WriteJob | { type: 'close' }) => {
    if ('type' in job) {
      checkpoints.stop();
      db.close();
      port.close();
      return;
    }
    let reply: WorkerReply;
    try {
      reply = { type: 'result', id: job.id, ...writer.write(unpack(job), job.now, new Set(job.wanted)) };
    } catch (err) {
      reply = { type: 'error', id: job.id, error: errorInfo(err) };
    }
    port.postMessage(reply);
    checkpoints.afterBatch();
  });
}

const port = parentPort;
if (port !== null) {
  const init = workerData as WorkerInit;
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new BetterSqlite3(init.file, { fileMustExist: true });
    db.pragma(`busy_timeout = ${init.busyTimeoutMs}`);
    // the file is in WAL mode already (the controller's connection switched it); these are per connection
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const checkpoints = new WalCheckpointer(db);
    checkpoints.start();
    serve(port, db, new RecordBatchWriter(db), checkpoints);
    port.postMessage({ type: 'ready' } satisfies WorkerReply);
  } catch (err) {
    db?.close();
    port.postMessage({ type: 'start-failed', error: errorInfo(err) } satisfies WorkerReply);
    port.close(); // the thread ends; the sink starts a new one for its next batch
  }
}

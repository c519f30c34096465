/**
 * Where ingest's record messages are decoded and stored: one interface, two implementations that
 * pass one test suite (record-sink.test.ts). The worker (worker-sink.ts) runs the work on a thread
 * of its own with its own database connection, so the controller's thread keeps to MQTT and the
 * rest; in process (here) is for where no worker can run: an in-memory database (it cannot be
 * opened twice) or the controller run from its sources (tests), where there is no built worker file.
 */
import { PdmError } from '@pdm/protocol';
import type { Db } from '../db/database.js';
import { RecordBatchWriter, type BatchResult, type RawRecord } from './record-batch.js';
import { WalCheckpointer } from './wal-checkpoint.js';

export interface RecordSink {
  start(): Promise<void>;
  /** Waits for nothing: the caller stops sending first and awaits what it sent. */
  stop(): Promise<void>;
  /**
   * Decodes and stores a batch (record-batch.ts). Resolves with one outcome per message once the
   * batch is committed; rejects when the batch could not be processed at all (none of it committed).
   */
  write(batch: readonly RawRecord[], now: number, wanted: ReadonlySet<string>): Promise<BatchResult>;
}

export class InProcessSink implements RecordSink {
  readonly #db: () => Db;
  #writer: RecordBatchWriter | undefined;
  #checkpoints: WalCheckpointer | undefined;

  /** `db` is read at start, once the database is open. */
  constructor(db: () => Db) {
    this.#db = db;
  }

  async start(): Promise<void> {
    const db = this.#db();
    this.#writer = new RecordBatchWriter(db);
    // the same checkpoint schedule as the worker's connection (wal-checkpoint.ts); no-op without a WAL
    this.#checkpoints = new WalCheckpointer(db);
    this.#checkpoints.start();
  }

  async stop(): Promise<void> {
    this.#checkpoints?.stop();
    this.#checkpoints = undefined;
    this.#writer = undefined;
  }

  async write(batch: readonly RawRecord[], now: number, wanted: ReadonlySet<string>): Promise<BatchResult> {
    if (this.#writer === undefined) throw new PdmError('INTERNAL', 'record sink is not started');
    const result = this.#writer.write(batch, now, wanted);
    this.#checkpoints?.afterBatch();
    return result;
  }
}

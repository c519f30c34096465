/**
 * Record batches decoded and stored on a worker thread (record-worker.ts) that owns a second write
 * connection to the controller's database. Why: on one thread the controller spent ~100-145 us of CPU
 * per record (SQLite ~45-60, decode + zod ~11%, MQTT I/O 20-30%; bench/RESULTS.md, "Controller
 * ingest"); with the store on the machine's other core the controller's thread keeps only MQTT.
 *
 * A batch goes over as one message with its payloads packed into one transferred buffer; the reply
 * carries one outcome per message. The caller acknowledges the messages only after the reply, so an
 * acknowledged record is committed. A worker that dies fails the batches it held (they are not
 * acknowledged and come again) and is started anew for the next batch.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PdmError } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import type { BatchResult, RawRecord } from './record-batch.js';
import type { RecordSink } from './record-sink.js';
import type { WorkerInit, WorkerReply, WriteJob } from './record-worker.js';

/** The worker's script and the node options it needs (a source file needs a TypeScript loader). */
export interface WorkerEntry {
  readonly url: URL;
  readonly execArgv?: string[];
}

/** The built worker beside this module; undefined when running from sources (no .js file there). */
export function builtWorkerEntry(): WorkerEntry | undefined {
  const url = new URL('./record-worker.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? { url } : undefined;
}

export interface WorkerSinkOptions {
  /** The controller's database file (migrated and in WAL mode before start). */
  file: string;
  entry: WorkerEntry;
  busyTimeoutMs: number;
}

interface Waiting {
  resolve(result: BatchResult): void;
  reject(err: Error): void;
}

export class WorkerSink implements RecordSink {
  readonly #options: WorkerSinkOptions;
  readonly #log: Logger;
  #worker: Promise<Worker> | undefined;
  #nextId = 1;
  readonly #waiting = new Map<number, Waiting>();
  #running = false;

  constructor(options: WorkerSinkOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#running = true;
    this.#worker = this.#spawn();
    await this.#worker;
  }

  async stop(): Promise<void> {
    this.#running = false;
    const worker = this.#worker;
    this.#worker = undefined;
    const w = await worker?.catch(() => undefined);
    if (w === undefined) return;
    // the worker closes its connection and ends; what is still waiting failed (the caller waited first)
    const exited = new Promise((resolve) => w.once('exit', resolve));
    w.postMessage({ type: 'close' });
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await w.terminate();
    this.#failWaiting(new PdmError('INTERNAL', 'ingest worker stopped'));
  }

  async write(batch: readonly RawRecord[], now: number, wanted: ReadonlySet<string>): Promise<BatchResult> {
    if (!this.#running) throw new PdmError('INTERNAL', 'ingest worker is stopped');
    this.#worker ??= this.#spawn();
    const worker = await this.#worker;
    const id = this.#nextId++;
    const job = pack(id, batch, now, wanted);
    return new Promise<BatchResult>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage(job, [job.bytes.buffer, job.ends.buffer, job.live.buffer]);
    });
  }

  /** Starts a worker; resolves once it has opened the database. */
  #spawn(): Promise<Worker> {
    const init: WorkerInit = { file: this.#options.file, busyTimeoutMs: this.#options.busyTimeoutMs };
    const worker = new Worker(this.#options.entry.url, {
      workerData: init,
      ...(this.#options.entry.execArgv === undefined ? {} : { execArgv: this.#options.entry.execArgv }),
    });
    // the controller's servers keep the process alive; a worker left behind by a failure must not
    worker.unref();
    const spawned = new Promise<Worker>((resolve, reject) => {
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') return resolve(worker);
        if (reply.type === 'start-failed') return reject(new PdmError('INTERNAL', 'ingest worker could not open the database', { context: { error: reply.error } }));
        this.#settle(reply);
      });
      worker.on('error', (err) => {
        this.#log.error({ err }, 'ingest worker failed');
        reject(new PdmError('INTERNAL', 'ingest worker failed', { cause: err }));
      });
      worker.on('exit', (code) => {
        reject(new PdmError('INTERNAL', 'ingest worker exited', { context: { code } }));
        if (this.#worker !== spawned) return; // stopped, or replaced already
        this.#log.error({ code }, 'ingest worker exited; starting a new one for the next batch');
        this.#worker = undefined;
        this.#failWaiting(new PdmError('INTERNAL', 'ingest worker exited', { context: { code } }));
      });
    });
    return spawned;
  }

  #settle(reply: Extract<WorkerReply, { id: number }>): void {
    const waiting = this.#waiting.get(reply.id);
    if (waiting === undefined) return;
    this.#waiting.delete(reply.id);
    if (reply.type === 'error') waiting.reject(new PdmError('INTERNAL', 'record batch not processed', { context: { error: reply.error } }));
    else waiting.resolve(reply);
  }

  #failWaiting(err: Error): void {
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(err);
  }
}

/** One buffer for all payloads (transferred, not copied again); aedes' payloads are views of its read buffers. */
function pack(id: number, batch: readonly RawRecord[], now: number, wanted: ReadonlySet<string>): WriteJob {
  let total = 0;
  for (const m of batch) total += m.payload.byteLength;
  const bytes = new Uint8Array(total);
  const ends = new Uint32Array(batch.length);
  const live = new Uint8Array(batch.length);
  let at = 0;
  batch.forEach((m, i) => {
    bytes.set(m.payload, at);
    at += m.payload.byteLength;
    ends[i] = at;
    live[i] = m.live ? 1 : 0;
  });
  return { id, now, wanted: [...wanted], topics: batch.map((m) => m.topic), live, bytes, ends };
}

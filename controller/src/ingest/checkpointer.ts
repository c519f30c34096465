/**
 * Runs the checkpoint thread (checkpoint-worker.ts): one PASSIVE checkpoint after each committed
 * record batch, at most one at a time (a batch committed meanwhile asks for one more). If the thread
 * dies it is not replaced: the record worker's own, much later autocheckpoint keeps the WAL bounded.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { PdmError } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import type { CheckpointInit, CheckpointReply, CheckpointRequest } from './checkpoint-worker.js';
import type { WorkerEntry } from './worker-sink.js';

export class Checkpointer {
  readonly #file: string;
  readonly #entry: WorkerEntry;
  readonly #log: Logger;
  #worker: Worker | undefined;
  #busy = false;
  #again = false;

  constructor(file: string, entry: WorkerEntry, log: Logger) {
    this.#file = file;
    this.#entry = entry;
    this.#log = log;
  }

  async start(): Promise<void> {
    const init: CheckpointInit = { file: this.#file };
    const worker = new Worker(this.#entry.url, { workerData: init, ...(this.#entry.execArgv === undefined ? {} : { execArgv: this.#entry.execArgv }) });
    const [first] = (await Promise.race([
      once(worker, 'message'),
      once(worker, 'exit').then(([code]) => { throw new PdmError('INTERNAL', 'checkpoint thread exited at start', { context: { code } }); }),
    ])) as [CheckpointReply];
    if (first.type !== 'ready') throw new PdmError('INTERNAL', 'checkpoint thread did not start');
    worker.on('message', (reply: CheckpointReply) => this.#done(reply));
    worker.on('error', (err) => this.#log.error({ err }, 'checkpoint thread failed'));
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#log.error({ code }, 'checkpoint thread exited; the record worker checkpoints by itself from now on');
    });
    this.#worker = worker;
  }

  async stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker === undefined) return;
    const exited = once(worker, 'exit');
    worker.postMessage({ type: 'close' } satisfies CheckpointRequest);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await worker.terminate();
  }

  /** A batch committed: checkpoint now, or once more after the one running. */
  committed(): void {
    if (this.#worker === undefined) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    this.#worker.postMessage({ type: 'checkpoint' } satisfies CheckpointRequest);
  }

  #done(reply: CheckpointReply): void {
    this.#busy = false;
    if (reply.type === 'done' && reply.error !== undefined) this.#log.warn({ error: reply.error }, 'checkpoint failed; the next batch tries again');
    if (this.#again) {
      this.#again = false;
      this.committed();
    }
  }
}

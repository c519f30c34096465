/**
 * The record route of ingest: record messages (predictions, metrics, alerts...) go to the record sink
 * in batches, one batch in flight while the next one gathers (group-commit.ts); once a batch is
 * committed its messages are settled (acknowledged) in arrival order, a chunk per event-loop turn,
 * after the listeners of newly stored records ran and conflicts and invalid payloads were logged.
 * Counting and last seen happen in the sink, inside its transactions.
 */
import { PdmError } from '@pdm/protocol';
import type { LinkMessage } from '../broker/broker-link.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { batchLog } from './failed-attempts.js';
import { GroupCommit, type Pending } from './group-commit.js';
import { LogThrottle } from './log-throttle.js';
import type { BatchResult, RecordOutcome, RecordTopic } from './record-batch.js';
import type { RecordSink } from './record-sink.js';

/** Record messages settled per event-loop turn: a whole batch at once (~700) held the loop ~50 ms (bench:ingest). */
const SETTLE_CHUNK = 128;

export interface RecordIntakeDeps {
  sink: RecordSink;
  clock: Clock;
  log: Logger;
  /** Kinds with listeners now: only their stored records come back decoded from the sink. */
  wanted(): ReadonlySet<string>;
  /** Tells the listeners of `kind` about a newly stored record. */
  emit(kind: string, record: unknown): void;
  /** Logs a refused payload (already counted by the sink). */
  invalid(deviceId: string, kind: string, code: string, reason: string, message: LinkMessage): void;
}

/** A record message and what its topic says (parsed once, by ingest's router). */
interface RecordMessage {
  readonly message: LinkMessage;
  readonly topic: RecordTopic;
}

interface Settling {
  readonly batch: readonly Pending<RecordMessage>[];
  readonly outcomes: readonly RecordOutcome[];
  from: number;
}

export class RecordIntake {
  readonly #deps: RecordIntakeDeps;
  readonly #batches = new GroupCommit<RecordMessage>((batch) => this.#commit(batch));
  /** Committed batches whose messages are still being settled, oldest first. */
  readonly #settling: Settling[] = [];
  /** A full disk fails every batch: one line per 10 s, with the count suppressed meanwhile. */
  readonly #throttle = new LogThrottle(10_000);

  constructor(deps: RecordIntakeDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    await this.#deps.sink.start();
  }

  /** Waits for what was submitted to be committed and settled; the caller stops submitting first. */
  async stop(): Promise<void> {
    await this.#batches.idle();
    while (this.#settling.length > 0) await new Promise((resolve) => setImmediate(resolve));
    await this.#deps.sink.stop();
  }

  /** Resolves once the message is committed (or refused as invalid); rejects when it was not processed. */
  submit(message: LinkMessage, topic: RecordTopic): Promise<void> {
    return this.#batches.submit({ message, topic });
  }

  /** Stores a batch in the sink; resolves with the step that queues its messages for settling. */
  async #commit(batch: readonly Pending<RecordMessage>[]): Promise<() => void> {
    const raw = batch.map(({ item: { message } }) => ({ topic: message.topic, payload: message.payload, live: !message.retain }));
    const result = await this.#deps.sink.write(raw, this.#deps.clock.now(), this.#deps.wanted());
    return () => {
      this.#logBatch(result, batch.length);
      this.#settling.push({ batch, outcomes: result.outcomes, from: 0 });
      if (this.#settling.length === 1) this.#settleSome();
    };
  }

  #settleSome(): void {
    const next = this.#settling[0];
    if (next === undefined) return;
    const { batch, outcomes, from } = next;
    const to = Math.min(batch.length, from + SETTLE_CHUNK);
    for (let i = from; i < to; i++) this.#afterCommit(batch[i]!.item, outcomes[i]!);
    for (let i = from; i < to; i++) {
      const outcome = outcomes[i]!;
      if (outcome.type === 'failed') batch[i]!.reject(new PdmError('INTERNAL', 'record not stored', { context: { error: outcome.error } }));
      else batch[i]!.resolve();
    }
    if (to < batch.length) next.from = to;
    else this.#settling.shift();
    if (this.#settling.length > 0) setImmediate(() => this.#settleSome());
  }

  #logBatch(result: BatchResult, messages: number): void {
    const { batchError } = result;
    batchLog.failure(this.#deps.log, batchError === undefined ? undefined : { error: batchError, oneByOne: batchError.oneByOne }, messages, this.#throttle);
    if (result.countersError !== undefined) this.#deps.log.error({ err: result.countersError }, 'ingest counters not written; will retry');
  }

  /** Listeners and logs of one committed message; what follows a commit must not keep the batch from being acknowledged. */
  #afterCommit({ message, topic: { deviceId, kind } }: RecordMessage, outcome: RecordOutcome): void {
    // the common outcomes need nothing more here
    if (outcome.type === 'duplicate' || outcome.type === 'failed' || (outcome.type === 'stored' && outcome.payload === undefined)) return;
    try {
      if (outcome.type === 'stored') {
        this.#deps.emit(kind, outcome.payload);
      } else if (outcome.type === 'conflict') {
        this.#deps.log.warn({ deviceId, seq: outcome.seq, kind }, 'seq reused with different content; first kept');
      } else {
        if (outcome.attempts !== undefined) batchLog.dropped(this.#deps.log, outcome.error, message.topic, outcome.attempts);
        this.#deps.invalid(deviceId, kind, outcome.code, outcome.reason, message);
      }
    } catch (err) {
      this.#deps.log.error({ err }, 'ingest step after commit failed');
    }
  }
}

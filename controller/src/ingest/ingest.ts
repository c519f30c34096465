/**
 * Ingest: every upstream message, for every device, goes through here. It is decoded against the
 * protocol (size cap, JSON, schema, deviceId equal to the topic's); an invalid one is counted by
 * reason and logged without its payload, never stored, never a crash. A valid record is stored once
 * on (deviceId, seq) with its per-kind rows and gap progress; statuses update presence; replies go to
 * the command module.
 *
 * Record messages (predictions, metrics, alerts...) are decoded and stored in batches by a record sink
 * (record-intake.ts, record-sink.ts: a worker thread with its own database connection, or in process
 * where none can run); statuses, replies and chunk requests are handled here, messages of one
 * event-loop turn in one transaction (group-commit.ts). Each message is acknowledged only after its
 * transaction committed. With the embedded broker they come from its authorizePublish hook, before
 * the device's PUBACK: aedes acknowledges a QoS 1 PUBLISH before it delivers it to subscribers, so
 * consuming through a subscription could lose, on a crash, a record the device already deleted from
 * its outbox. With an external broker they come through the link.
 */
import { hash as digest } from 'node:crypto';
import {
  PdmError, allDevicesFilter, upKinds,
  type PayloadOf, type RecordKind, type Reply, type Status, type UpKind,
} from '@pdm/protocol';
import type { BrokerHost } from '../broker/broker-host.js';
import type { BrokerLink, Health, LinkMessage } from '../broker/broker-link.js';
import type { Clock } from '../clock.js';
import { type Database, type Db, writeTransaction } from '../db/database.js';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { RecordsRepo } from '../db/records-repo.js';
import type { Logger } from '../logger.js';
import { IngestCounters } from './counters.js';
import { decodeUpstream } from './decode.js';
import { GroupCommit, type Pending } from './group-commit.js';
import { LogThrottle } from './log-throttle.js';
import type { Presence, Transition } from './presence.js';
import { FailedAttempts, MAX_ATTEMPTS, attemptKey, batchLog, databaseUnavailable, writeBatch } from './failed-attempts.js';
import { isRecordTopic } from './record-batch.js';
import { RecordIntake } from './record-intake.js';
import { InProcessSink, type RecordSink } from './record-sink.js';
import { WorkerSink, builtWorkerEntry } from './worker-sink.js';

export { MAX_ATTEMPTS };

/**
 * How long the worker's connection waits for a write of the controller's thread (statuses, rollouts,
 * API) to finish. Long: waiting blocks only the worker, and giving up fails a whole batch.
 */
const WORKER_BUSY_TIMEOUT_MS = 10_000;

type Listener<T> = (value: T) => void;

/** A message that passed decoding, with what idempotency and the retry count need. */
interface Decoded {
  readonly message: LinkMessage;
  readonly kind: Exclude<UpKind, RecordKind>;
  readonly deviceId: string;
  readonly payload: unknown;
}

/** Statuses, replies and fetch requests: records never come this way (handle() routes them to the intake). */
const anyKind = (): boolean => true;

/** Hashes the payload only when a failure is counted or may be pending: statuses are not stored by hash. */
const keyOf = (d: Decoded): string => attemptKey(d.message.topic, digest('sha256', d.message.payload, 'hex'));

/** Counters, presence, logs and listeners of a written message: run once its transaction committed. */
type AfterCommit = () => void;

/**
 * Listeners per upstream kind: status after presence is updated, records after they are stored for
 * the first time (not for duplicates), anything else (replies, artifact requests) as it arrives.
 */
export interface UpstreamSource {
  on<K extends UpKind>(kind: K, listener: Listener<PayloadOf<K>>): () => void;
}
export interface StatusSource {
  onStatus(listener: Listener<Status>): () => void;
}
export interface ReplySource {
  onReply(listener: Listener<Reply>): () => void;
}

export class Ingest implements UpstreamSource, StatusSource, ReplySource {
  readonly #database: Database;
  readonly #link: BrokerLink;
  readonly #presence: Presence;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #host: Pick<BrokerHost, 'takeUpstream'> | undefined;
  readonly #batch = new GroupCommit<LinkMessage>((batch) => this.#commitBatch(batch));
  readonly #sink: RecordSink | undefined;
  /** Record messages: decoded and stored by the sink, in batches (record-intake.ts). */
  #records: RecordIntake | undefined;
  readonly #listeners = new Map<UpKind, Set<Listener<never>>>();
  readonly #throttle = new LogThrottle(10_000);
  /** Failed attempts per message, so one poison message cannot block ingest. */
  readonly #attempts = new FailedAttempts();
  #db: Db | undefined;
  #progress: RecordsRepo | undefined;
  /** The transactions, made once: building better-sqlite3's wrapper per batch costs too. */
  #writeAll: ((batch: Decoded[]) => AfterCommit[]) | undefined;
  #writeOne: ((d: Decoded) => AfterCommit) | undefined;
  #counters: IngestCounters | undefined;
  #running = false;

  /**
   * `host`: the embedded broker, which hands device publishes over before acknowledging them.
   * `sink`: where records are stored; by default the worker thread where it can run (built code, a
   * database file), else in process.
   */
  constructor(database: Database, link: BrokerLink, presence: Presence, clock: Clock, log: Logger, host?: Pick<BrokerHost, 'takeUpstream'>,
    sink?: RecordSink) {
    this.#database = database;
    this.#link = link;
    this.#presence = presence;
    this.#clock = clock;
    this.#log = log;
    this.#host = host;
    this.#sink = sink;
  }

  async start(): Promise<void> {
    this.#db = this.#database.handle;
    this.#progress = new RecordsRepo(this.#db);
    this.#writeAll = writeTransaction(this.#db, (batch: Decoded[]) => batch.map((d) => this.#write(d)));
    this.#writeOne = writeTransaction(this.#db, (d: Decoded) => this.#write(d));
    this.#records = new RecordIntake({
      sink: this.#sink ?? this.#defaultSink(this.#db), clock: this.#clock, log: this.#log,
      wanted: () => this.#listenedKinds(),
      emit: (kind, record) => this.#emit(kind as UpKind, record),
      invalid: (deviceId, kind, code, reason, message) => this.#logInvalid(deviceId, kind, code, reason, message),
    });
    await this.#records.start();
    this.#counters = new IngestCounters(this.#db, new IngestStatsRepo(this.#db), () => setImmediate(() => this.#flushLater()));
    this.#running = true;
    try {
      await this.#listen();
    } catch (err) {
      // a part that failed to start is not stopped by the app: end the worker here
      this.#running = false;
      await this.#records.stop();
      throw err;
    }
  }

  async #listen(): Promise<void> {
    this.#link.setHandler((message) => this.handle(message));
    if (this.#host?.takeUpstream((message) => this.handle(message)) === true) {
      // not subscribed as well: every device publish, last wills included, passes the broker's hook
      this.#log.info({ source: 'broker' }, 'ingest started');
      return;
    }
    const filters = upKinds.map((kind) => allDevicesFilter(kind));
    await this.#link.subscribe(filters, 1);
    this.#log.info({ source: 'link', filters }, 'ingest started');
  }

  async stop(): Promise<void> {
    // the broker keeps calling handle(), which now refuses: what arrives after this is not acknowledged
    this.#running = false;
    this.#batch.flush();
    await this.#records?.stop();
    this.flushPending();
    this.#log.info({}, 'ingest stopped');
  }

  #defaultSink(db: Db): RecordSink {
    const entry = builtWorkerEntry();
    if (db.memory || entry === undefined) {
      this.#log.info({ worker: false }, 'records stored in process');
      return new InProcessSink(() => db);
    }
    return new WorkerSink({ file: db.name, entry, busyTimeoutMs: WORKER_BUSY_TIMEOUT_MS }, this.#log);
  }

  /** Writes the counters and last-seen times summed in memory (done every event-loop turn anyway). */
  flushPending(): void {
    this.#counters?.flush();
    this.#presence.flushSeen();
  }

  #flushLater(): void {
    try {
      this.#counters?.flush();
    } catch (err) {
      this.#log.error({ err }, 'ingest counters not written; will retry');
      setTimeout(() => this.#flushLater(), 1000).unref();
    }
  }

  health(): Health {
    if (!this.#running) return { ok: false, detail: 'not running' };
    return this.#link.connected ? { ok: true } : { ok: false, detail: 'link disconnected' };
  }

  on<K extends UpKind>(kind: K, listener: Listener<PayloadOf<K>>): () => void {
    const set = this.#listeners.get(kind) ?? new Set();
    this.#listeners.set(kind, set);
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  onStatus(listener: Listener<Status>): () => void {
    return this.on('status', listener);
  }

  onReply(listener: Listener<Reply>): () => void {
    return this.on('reply', listener);
  }

  /**
   * Takes one message into the next group commit. Resolves once it is handled: stored and committed,
   * a duplicate, or counted as invalid. Rejects only when it could not be processed (e.g. the disk is
   * full), so the caller leaves it unacknowledged and it comes back; invalid payloads resolve.
   */
  handle(message: LinkMessage): Promise<void> {
    if (!this.#running) return Promise.reject(new PdmError('INTERNAL', 'ingest is stopped'));
    // the topic was parsed once where the message was received (LinkMessage.parsed)
    const topic = message.parsed;
    return isRecordTopic(topic) ? this.#records!.submit(message, topic) : this.#batch.submit(message);
  }

  #listenedKinds(): ReadonlySet<string> {
    const kinds = new Set<string>();
    for (const [kind, set] of this.#listeners) if (set.size > 0) kinds.add(kind);
    return kinds;
  }

  /**
   * Decodes a batch, writes its valid messages in one transaction, then settles each in arrival order.
   * A failed transaction is handled as failed-attempts.ts says (writeBatch).
   */
  #commitBatch(batch: readonly Pending<LinkMessage>[]): void {
    const decoded = batch.map((p) => this.#decode(p.item));
    const valid = decoded.filter((d) => d !== undefined);
    if (valid.length === 0) {
      for (const p of batch) p.resolve();
      return;
    }
    const { results, failure } = writeBatch(valid, {
      // only a status writes: replies and fetch requests are passed on without taking the write lock
      writeAll: valid.some((d) => d.kind === 'status') ? this.#writeAll! : (ds) => ds.map((d) => this.#write(d)),
      // what follows a member's commit runs before the next member is written, as it would alone; its
      // result is then undefined, so the settling loop below does not run it a second time
      writeOne: (d) => {
        this.#runEffect(this.#writeOne!(d));
        return undefined;
      },
      key: keyOf,
    }, this.#attempts);
    batchLog.failure(this.#log, failure, batch.length, this.#throttle);
    let i = 0;
    let unavailableLogged = failure?.oneByOne === false;
    batch.forEach((p, k) => {
      const d = decoded[k];
      if (d === undefined) return p.resolve();
      const result = results[i++]!;
      if (result.type === 'written') {
        if (result.value !== undefined) this.#runEffect(result.value);
        return p.resolve();
      }
      if (result.type === 'dropped') {
        batchLog.dropped(this.#log, result.error, d.message.topic, result.attempts);
        this.#invalid(d.deviceId, d.kind, new PdmError('INTERNAL', `processing failed ${result.attempts} times`), d.message);
        return p.resolve();
      }
      // the member the database refused alone is logged (the ones after it were not tried)
      if (!unavailableLogged && databaseUnavailable(result.error)) {
        unavailableLogged = true;
        batchLog.failure(this.#log, { error: result.error, oneByOne: false }, 1, this.#throttle);
      }
      return p.reject(result.error);
    });
  }

  /** Topic, size, JSON, schema and deviceId; an invalid message is counted here and yields undefined. */
  #decode(message: LinkMessage): Decoded | undefined {
    const d = decodeUpstream(message.topic, message.parsed, message.payload, anyKind, 'topic is not a pdm upstream topic');
    if (d.ok) return { message, kind: d.kind as Decoded['kind'], deviceId: d.deviceId, payload: d.payload };
    this.#invalid(d.deviceId, d.kind, d.error, message);
    return undefined;
  }

  /** The database part of one message; runs inside the batch's transaction. Returns what to do once it committed. */
  #write(d: Decoded): AfterCommit {
    const live = !d.message.retain;
    if (d.kind === 'status') {
      const applied = this.#presence.applyStatus(d.payload as Status, live);
      return () => this.#statusApplied(d.payload as Status, applied.transition);
    }
    return () => this.#passOn(d, live);
  }

  #statusApplied(status: Status, transition: Transition | undefined): void {
    this.#counters!.accepted('status');
    if (transition !== undefined) this.#presence.announce(transition);
    this.#checkSeq(status);
    this.#emit('status', status);
  }

  /** Replies, artifact requests and whatever the protocol adds: not stored here, handed to their module. */
  #passOn(d: Decoded, live: boolean): void {
    this.#presence.seen(d.deviceId, live);
    this.#counters!.accepted(d.kind);
    if ((this.#listeners.get(d.kind)?.size ?? 0) === 0 && this.#throttle.allow(`nohandler:${d.kind}`)) {
      this.#log.debug({ kind: d.kind }, 'no handler for this kind yet');
    }
    this.#emit(d.kind, d.payload);
  }

  /** What follows a commit must not keep the committed messages from being acknowledged. */
  #runEffect(effect: AfterCommit): void {
    try {
      effect();
    } catch (err) {
      this.#log.error({ err }, 'ingest step after commit failed');
    }
  }

  /** A device whose data directory was wiped starts again at seq 1: its records would look like duplicates. */
  #checkSeq(status: Status): void {
    if (status.state !== 'online') return;
    const progress = this.#progress!.progress(status.deviceId);
    if (status.lastSeq < progress.max && this.#throttle.allow(`seq:${status.deviceId}`)) {
      this.#log.warn({ deviceId: status.deviceId, lastSeq: status.lastSeq, maxStored: progress.max },
        'device reports a lower seq than already stored');
    }
  }

  #emit(kind: UpKind, value: unknown): void {
    for (const listener of this.#listeners.get(kind) ?? []) {
      try {
        (listener as Listener<unknown>)(value);
      } catch (err) {
        this.#log.error({ err }, 'ingest listener failed');
      }
    }
  }

  #invalid(deviceId: string, kind: string, err: PdmError, message: LinkMessage): void {
    this.#counters!.invalid(deviceId, kind, err.code, err.message, this.#clock.now());
    this.#logInvalid(deviceId, kind, err.code, err.message, message);
  }

  /** Without the payload; at most one line per device and code per 10 s, with the count suppressed meanwhile. */
  #logInvalid(deviceId: string, kind: string, code: string, reason: string, message: LinkMessage): void {
    const suppressed = this.#throttle.take(`${deviceId}\u0000${code}`);
    if (suppressed === undefined) return;
    this.#log.warn({
      code, topic: message.topic.slice(0, 200), deviceId: deviceId || null, kind, bytes: message.payload.byteLength,
      reason: reason.slice(0, 300), suppressed,
    }, 'invalid payload refused');
  }
}


/**
 * Ingest: every upstream message, for every device, goes through here. It is decoded against the
 * protocol (size cap, JSON, schema, deviceId equal to the topic's); an invalid one is counted by
 * reason and logged without its payload, never stored, never a crash. A valid record is stored once
 * on (deviceId, seq) in one transaction with its per-kind rows, gap progress and presence; statuses
 * update presence; replies go to the command module.
 */
import { createHash } from 'node:crypto';
import {
  PdmError, allDevicesFilter, decodePayload, isPdmError, parseTopic, recordKinds, upKinds,
  type PayloadOf, type RecordKind, type Reply, type Status, type UpKind,
} from '@pdm/protocol';
import type { BrokerLink, Health, LinkMessage } from '../broker/broker-link.js';
import type { Clock } from '../clock.js';
import type { Database, Db } from '../db/database.js';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { RecordsRepo, type StoreOutcome } from '../db/records-repo.js';
import type { Logger } from '../logger.js';
import { IngestCounters } from './counters.js';
import { LogThrottle } from './log-throttle.js';
import type { Presence } from './presence.js';

/** A message that fails to be processed this many times is counted as INTERNAL and acknowledged. */
export const MAX_ATTEMPTS = 5;

type Listener<T> = (value: T) => void;

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

const isRecordKind = (kind: UpKind): kind is RecordKind => (recordKinds as readonly string[]).includes(kind);

export class Ingest implements UpstreamSource, StatusSource, ReplySource {
  readonly #database: Database;
  readonly #link: BrokerLink;
  readonly #presence: Presence;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #listeners = new Map<UpKind, Set<Listener<never>>>();
  readonly #throttle = new LogThrottle(10_000);
  /** Failed attempts per message (topic + payload hash), so one poison message cannot block ingest. */
  readonly #attempts = new Map<string, number>();
  #db: Db | undefined;
  #records: RecordsRepo | undefined;
  /** One transaction per record; made once, since building better-sqlite3's wrapper per message costs too. */
  #storeRecord: ((kind: RecordKind, payload: unknown, hash: string, at: number) => StoreOutcome) | undefined;
  #counters: IngestCounters | undefined;
  #running = false;

  constructor(database: Database, link: BrokerLink, presence: Presence, clock: Clock, log: Logger) {
    this.#database = database;
    this.#link = link;
    this.#presence = presence;
    this.#clock = clock;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#db = this.#database.handle;
    const records = new RecordsRepo(this.#db);
    this.#records = records;
    this.#storeRecord = this.#db.transaction((kind: RecordKind, payload: unknown, hash: string, at: number) =>
      records.store(kind, payload as never, hash, at));
    this.#counters = new IngestCounters(this.#db, new IngestStatsRepo(this.#db), () => setImmediate(() => this.#flushLater()));
    this.#running = true;
    this.#link.setHandler((message) => this.handle(message));
    const filters = upKinds.map((kind) => allDevicesFilter(kind));
    await this.#link.subscribe(filters, 1);
    this.#log.info({ filters }, 'ingest subscribed');
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.flushPending();
    this.#log.info({}, 'ingest stopped');
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
   * Handles one message. Throws only when it could not be processed (e.g. the disk is full), so the
   * link leaves it unacknowledged and it comes back; invalid payloads are handled, not thrown.
   */
  handle(message: LinkMessage): void {
    if (!this.#running) throw new PdmError('INTERNAL', 'ingest is stopped');
    const parsed = parseTopic(message.topic);
    // `+` in the subscription also matches levels that are not valid deviceIds
    if (parsed === undefined || parsed.direction !== 'up') {
      const kind = message.topic.split('/').at(-1) ?? '';
      this.#invalid('', kind, new PdmError('TOPIC_INVALID', 'topic is not a pdm upstream topic'), message);
      return;
    }
    const kind = parsed.kind as UpKind;
    let payload: unknown;
    try {
      payload = decodePayload(kind, message.payload, parsed.deviceId);
    } catch (err) {
      this.#invalid(parsed.deviceId, kind, isPdmError(err) ? err : new PdmError('INTERNAL', 'decode failed', { cause: err }), message);
      return;
    }
    const hash = sha256(message.payload);
    const key = `${message.topic}\u0000${hash}`;
    try {
      this.#store(kind, parsed.deviceId, payload, hash, message);
      this.#attempts.delete(key);
    } catch (err) {
      const attempts = (this.#attempts.get(key) ?? 0) + 1;
      if (attempts < MAX_ATTEMPTS) {
        if (this.#attempts.size >= 10_000) this.#attempts.clear();
        this.#attempts.set(key, attempts);
        throw err;
      }
      this.#attempts.delete(key);
      this.#log.error({ err, topic: message.topic, attempts }, 'message failed repeatedly; dropped');
      this.#invalid(parsed.deviceId, kind, new PdmError('INTERNAL', `processing failed ${attempts} times`), message);
    }
  }

  #store(kind: UpKind, deviceId: string, payload: unknown, hash: string, message: LinkMessage): void {
    const live = !message.retain;
    const counters = this.#counters!;
    if (isRecordKind(kind)) {
      const { seq } = payload as { seq: number };
      const at = this.#clock.now();
      const outcome = this.#storeRecord!(kind, payload, hash, at);
      counters.accepted(kind, outcome);
      this.#presence.seen(deviceId, live);
      if (outcome === 'conflict') {
        this.#log.warn({ deviceId, seq, kind }, 'seq reused with different content; first kept');
      }
      if (outcome === 'stored') this.#emit(kind, payload);
      return;
    }
    if (kind === 'status') {
      const status = payload as Status;
      const applied = this.#db!.transaction(() => this.#presence.applyStatus(status, live))();
      counters.accepted(kind);
      if (applied.transition !== undefined) this.#presence.announce(applied.transition);
      this.#checkSeq(status);
      this.#emit(kind, status);
      return;
    }
    // replies, artifact requests and whatever the protocol adds: not stored here, handed to their module
    this.#presence.seen(deviceId, live);
    counters.accepted(kind);
    if ((this.#listeners.get(kind)?.size ?? 0) === 0 && this.#throttle.allow(`nohandler:${kind}`)) {
      this.#log.debug({ kind }, 'no handler for this kind yet');
    }
    this.#emit(kind, payload);
  }

  /** A device whose data directory was wiped starts again at seq 1: its records would look like duplicates. */
  #checkSeq(status: Status): void {
    if (status.state !== 'online') return;
    const progress = this.#records!.progress(status.deviceId);
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
    const suppressed = this.#throttle.take(`${deviceId}\u0000${err.code}`);
    if (suppressed === undefined) return;
    this.#log.warn({
      code: err.code, topic: message.topic.slice(0, 200), deviceId: deviceId || null, kind, bytes: message.payload.byteLength,
      reason: err.message.slice(0, 300), suppressed,
    }, 'invalid payload refused');
  }
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

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
  type RecordKind, type Reply, type Status, type UpKind,
} from '@pdm/protocol';
import type { BrokerLink, Health, LinkMessage } from '../broker/broker-link.js';
import type { Clock } from '../clock.js';
import type { Database, Db } from '../db/database.js';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { RecordsRepo, type StoreOutcome } from '../db/records-repo.js';
import type { Logger } from '../logger.js';
import { LogThrottle } from './log-throttle.js';
import type { Presence } from './presence.js';

/** A message that fails to be processed this many times is counted as INTERNAL and acknowledged. */
export const MAX_ATTEMPTS = 5;

type Listener<T> = (value: T) => void;

export interface StatusSource {
  onStatus(listener: Listener<Status>): () => void;
}
export interface ReplySource {
  onReply(listener: Listener<Reply>): () => void;
}

const isRecordKind = (kind: UpKind): kind is RecordKind => (recordKinds as readonly string[]).includes(kind);

export class Ingest implements StatusSource, ReplySource {
  readonly #database: Database;
  readonly #link: BrokerLink;
  readonly #presence: Presence;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #statusListeners = new Set<Listener<Status>>();
  readonly #replyListeners = new Set<Listener<Reply>>();
  readonly #throttle = new LogThrottle(10_000);
  /** Failed attempts per message (topic + payload hash), so one poison message cannot block ingest. */
  readonly #attempts = new Map<string, number>();
  #db: Db | undefined;
  #records: RecordsRepo | undefined;
  #stats: IngestStatsRepo | undefined;
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
    this.#records = new RecordsRepo(this.#db);
    this.#stats = new IngestStatsRepo(this.#db);
    this.#running = true;
    this.#link.setHandler((message) => this.handle(message));
    const filters = upKinds.map((kind) => allDevicesFilter(kind));
    await this.#link.subscribe(filters, 1);
    this.#log.info({ filters }, 'ingest subscribed');
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#log.info({}, 'ingest stopped');
  }

  health(): Health {
    if (!this.#running) return { ok: false, detail: 'not running' };
    return this.#link.connected ? { ok: true } : { ok: false, detail: 'link disconnected' };
  }

  onStatus(listener: Listener<Status>): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  onReply(listener: Listener<Reply>): () => void {
    this.#replyListeners.add(listener);
    return () => this.#replyListeners.delete(listener);
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
      this.#store(kind, payload, hash, message);
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

  #store(kind: UpKind, payload: unknown, hash: string, message: LinkMessage): void {
    const live = !message.retain;
    const records = this.#records!;
    const stats = this.#stats!;
    if (isRecordKind(kind)) {
      const record = payload as { deviceId: string; seq: number };
      const at = this.#clock.now();
      const outcome = this.#db!.transaction((): StoreOutcome => {
        const o = records.store(kind, payload as never, hash, at);
        stats.countAccepted(kind, o);
        this.#presence.seen(record.deviceId, live);
        return o;
      })();
      if (outcome === 'conflict') {
        this.#log.warn({ deviceId: record.deviceId, seq: record.seq, kind }, 'seq reused with different content; first kept');
      }
      return;
    }
    if (kind === 'status') {
      const status = payload as Status;
      const applied = this.#db!.transaction(() => {
        stats.countAccepted(kind);
        return this.#presence.applyStatus(status, live);
      })();
      if (applied.transition !== undefined) this.#presence.announce(applied.transition);
      this.#checkSeq(status);
      this.#emit(this.#statusListeners, status);
      return;
    }
    const reply = payload as Reply;
    this.#db!.transaction(() => {
      this.#presence.seen(reply.deviceId, live);
      stats.countAccepted(kind);
    })();
    this.#emit(this.#replyListeners, reply);
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

  #emit<T>(listeners: Set<Listener<T>>, value: T): void {
    for (const listener of listeners) {
      try {
        listener(value);
      } catch (err) {
        this.#log.error({ err }, 'ingest listener failed');
      }
    }
  }

  #invalid(deviceId: string, kind: string, err: PdmError, message: LinkMessage): void {
    try {
      this.#stats!.countInvalid(deviceId, kind, err.code, err.message, this.#clock.now());
    } catch (countErr) {
      // Losing a counter is not losing data: the payload is refused either way.
      this.#log.error({ err: countErr }, 'invalid payload not counted');
    }
    const suppressed = this.#throttle.take(`${deviceId}\u0000${err.code}`);
    if (suppressed === undefined) return;
    this.#log.warn({
      code: err.code, topic: message.topic.slice(0, 200), deviceId: deviceId || null, kind, bytes: message.payload.byteLength,
      reason: err.message.slice(0, 300), suppressed,
    }, 'invalid payload refused');
  }
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

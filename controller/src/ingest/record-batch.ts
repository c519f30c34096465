/**
 * The record half of ingest, on one database connection: decodes a batch of raw record messages
 * (size cap, JSON, zod schema, deviceId equal to the topic's), stores the valid ones in one
 * transaction (idempotent on (deviceId, seq), per-kind rows, gap progress, the devices' last-seen
 * times), then writes the batch's ingest counters. It runs on the ingest worker thread (record-worker.ts)
 * or, where no worker can run, in the controller's thread (record-sink.ts); it knows neither.
 *
 * Why the last-seen times and counters are written here and not by the controller's thread: with the
 * worker writing batches back to back, a write from the controller's thread waits for the worker's
 * transaction (one writer in WAL) and better-sqlite3 blocks the event loop meanwhile.
 */
import { hash as digest } from 'node:crypto';
import { PdmError, parseTopic, recordKinds, type ParsedTopic, type RecordKind } from '@pdm/protocol';
import { type Db, writeTransaction } from '../db/database.js';
import { DevicesRepo } from '../db/devices-repo.js';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { RecordsRepo } from '../db/records-repo.js';
import { IngestCounters } from './counters.js';
import { decodeUpstream } from './decode.js';
import { FailedAttempts, MAX_ATTEMPTS, attemptKey, writeBatch, type ItemResult } from './failed-attempts.js';

export { MAX_ATTEMPTS };

/** One record message as it came from the broker. */
export interface RawRecord {
  readonly topic: string;
  readonly payload: Uint8Array;
  /** False for a retained message replayed on subscribe: old news, not a sign of life. */
  readonly live: boolean;
}

/**
 * What became of one message. `failed`: not stored (e.g. the disk is full), so it must not be
 * acknowledged and comes again; every other outcome is final and acknowledged.
 */
export type RecordOutcome =
  | { readonly type: 'stored'; readonly payload?: unknown }
  | { readonly type: 'duplicate' }
  | { readonly type: 'conflict'; readonly seq: number }
  | { readonly type: 'invalid'; readonly code: string; readonly reason: string; readonly attempts?: number; readonly error?: ErrorInfo }
  | { readonly type: 'failed'; readonly error: ErrorInfo };

/** An error as it can cross a thread boundary. */
export interface ErrorInfo {
  readonly message: string;
  readonly code: string | undefined;
}

export interface BatchResult {
  /** One per message, in order. */
  readonly outcomes: RecordOutcome[];
  /**
   * Set when the batch's transaction failed: `oneByOne` when its messages were then stored one by
   * one (a poison member suspected), else the database could not take the write now and none was
   * stored (failed-attempts.ts).
   */
  readonly batchError?: ErrorInfo & { readonly oneByOne: boolean };
  /** Set when the counters could not be written (they are kept for the next batch). */
  readonly countersError?: ErrorInfo;
}

interface Decoded {
  readonly raw: RawRecord;
  readonly kind: RecordKind;
  readonly deviceId: string;
  readonly record: { readonly deviceId: string; readonly seq: number };
  readonly hash: string;
}

const RECORD_KINDS: ReadonlySet<string> = new Set(recordKinds);
const isRecordKind = (kind: string): kind is RecordKind => RECORD_KINDS.has(kind);

/** A parsed upstream topic whose kind is a stored record (not status, reply or fetch). */
export type RecordTopic = ParsedTopic & { readonly kind: RecordKind };

export function isRecordTopic(parsed: ParsedTopic | undefined): parsed is RecordTopic {
  return parsed !== undefined && parsed.direction === 'up' && isRecordKind(parsed.kind);
}

export const errorInfo = (err: unknown): ErrorInfo => ({
  message: err instanceof Error ? err.message : String(err),
  code: (err as { code?: unknown } | undefined)?.code === undefined ? undefined : String((err as { code: unknown }).code),
});

export class RecordBatchWriter {
  readonly #records: RecordsRepo;
  readonly #devices: DevicesRepo;
  readonly #counters: IngestCounters;
  readonly #writeAll: (batch: readonly Decoded[], now: number) => RecordOutcome[];
  readonly #writeOne: (d: Decoded, now: number) => RecordOutcome;
  /** Failed attempts per message, so one poison message cannot block ingest. */
  readonly #attempts = new FailedAttempts();

  constructor(db: Db) {
    this.#records = new RecordsRepo(db);
    this.#devices = new DevicesRepo(db);
    this.#counters = new IngestCounters(db, new IngestStatsRepo(db), () => undefined);
    this.#writeAll = writeTransaction(db, (batch: readonly Decoded[], now: number) => {
      const outcomes = this.#records.inBatch(() => batch.map((d) => this.#store(d, now)));
      this.#touch(batch, now);
      return outcomes;
    });
    this.#writeOne = writeTransaction(db, (d: Decoded, now: number) => {
      const outcome = this.#store(d, now);
      this.#touch([d], now);
      return outcome;
    });
  }

  /**
   * Stores a batch. `now` is the controller's clock for received_at and last seen; a stored record's
   * decoded payload is returned only for the kinds in `wanted` (those with listeners), to keep the
   * reply small. Counters are written after the records, in a transaction of their own (a crash in
   * between loses counts, never a record).
   */
  write(batch: readonly RawRecord[], now: number, wanted: ReadonlySet<string>): BatchResult {
    const decoded = batch.map((raw) => this.#decode(raw, now));
    const valid = decoded.filter((d): d is Decoded => !('type' in d));
    const { results, failure } = valid.length > 0 ? writeBatch(valid, {
      writeAll: (items) => this.#writeAll(items, now),
      writeOne: (d) => this.#writeOne(d, now),
      key: (d) => attemptKey(d.raw.topic, d.hash),
    }, this.#attempts) : { results: [] };
    let i = 0;
    const outcomes = decoded.map((d) => ('type' in d ? d : this.#outcome(d, results[i++]!, now, wanted)));
    if (failure?.oneByOne === false) {
      // none of it stored and nobody's fault: it comes again. The counters wait too (another wait
      // for the lock here would hold the next batch); the invalid ones' counts go with a later batch.
      return { outcomes, batchError: { ...errorInfo(failure.error), oneByOne: false } };
    }
    const result: BatchResult = failure === undefined ? { outcomes } : { outcomes, batchError: { ...errorInfo(failure.error), oneByOne: true } };
    try {
      this.#counters.flush();
    } catch (err) {
      // the sums stay in memory and go out with the next batch's
      return { ...result, countersError: errorInfo(err) };
    }
    return result;
  }

  /** A valid message's outcome from what writeBatch made of it. */
  #outcome(d: Decoded, result: ItemResult<RecordOutcome>, now: number, wanted: ReadonlySet<string>): RecordOutcome {
    if (result.type === 'written') return this.#settled(d, result.value, wanted);
    if (result.type === 'failed') return { type: 'failed', error: errorInfo(result.error) };
    const { attempts, error } = result;
    return this.#invalid(d.deviceId, d.kind, new PdmError('INTERNAL', `processing failed ${attempts} times`), now, { attempts, error: errorInfo(error) });
  }

  /** Counts a committed outcome and adds the payload its listeners want. */
  #settled(d: Decoded, outcome: RecordOutcome, wanted: ReadonlySet<string>): RecordOutcome {
    this.#counters.accepted(d.kind, outcome.type as 'stored' | 'duplicate' | 'conflict');
    return outcome.type === 'stored' && wanted.has(d.kind) ? { type: 'stored', payload: d.record } : outcome;
  }

  /** The database part of one message; runs inside a transaction. */
  #store(d: Decoded, now: number): RecordOutcome {
    const outcome = this.#records.store(d.kind, d.record as never, d.hash, now);
    return outcome === 'conflict' ? { type: 'conflict', seq: d.record.seq } : { type: outcome };
  }

  /** Each device of the batch once (known from now on); last seen moves only for live messages. */
  #touch(batch: readonly Decoded[], now: number): void {
    const live = new Map<string, boolean>();
    for (const d of batch) live.set(d.deviceId, d.raw.live || live.get(d.deviceId) === true);
    for (const [deviceId, isLive] of live) this.#devices.touch(deviceId, now, isLive);
  }

  #decode(raw: RawRecord, now: number): Decoded | RecordOutcome {
    // the one parse of this message on this thread (the controller's thread's does not cross over)
    const d = decodeUpstream(raw.topic, parseTopic(raw.topic), raw.payload, isRecordKind, 'topic is not a pdm record topic');
    if (!d.ok) return this.#invalid(d.deviceId, d.kind, d.error, now);
    const record = d.payload as Decoded['record'];
    return { raw, kind: d.kind as RecordKind, deviceId: d.deviceId, record, hash: digest('sha256', raw.payload, 'hex') };
  }

  #invalid(deviceId: string, kind: string, err: PdmError, now: number, more: { attempts?: number; error?: ErrorInfo } = {}): RecordOutcome {
    this.#counters.invalid(deviceId, kind, err.code, err.message, now);
    return { type: 'invalid', code: err.code, reason: err.message, ...more };
  }
}

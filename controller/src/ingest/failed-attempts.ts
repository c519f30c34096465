/**
 * What ingest does when a message's transaction fails, for records (record-batch.ts) and for
 * statuses and replies (ingest.ts) alike. Two kinds of failure:
 * - the database cannot take the write now (another writer held the lock past the busy timeout, the
 *   disk is full, an I/O error, the file cannot be written): no message's fault. The whole batch is
 *   not stored and not acknowledged, and comes again. Storing its members one by one would only wait
 *   the busy timeout once per member, and counting the failure toward MAX_ATTEMPTS would in the end
 *   drop good records the device was told were delivered.
 * - anything else may be one poison member: the members are stored one by one, so it alone fails,
 *   and a message that fails MAX_ATTEMPTS times is dropped (counted as INTERNAL and acknowledged) so
 *   it cannot block its device's outbox for ever.
 */
import type { Logger } from '../logger.js';
import type { LogThrottle } from './log-throttle.js';

/** A message that fails to be stored this many times is counted as INTERNAL and acknowledged. */
export const MAX_ATTEMPTS = 5;

/**
 * SQLite's primary codes (and their extended codes, e.g. SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE)
 * that say the database could not take the write now: https://sqlite.org/rescode.html
 */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY)(_|$)/;

/** True when `err` (an Error, or its ErrorInfo from the worker) says the database could not take the write now. */
export function databaseUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && UNAVAILABLE.test(code);
}

/** Topic + payload hash: counts the failed attempts of this exact message. */
export const attemptKey = (topic: string, hash: string): string => `${topic}\u0000${hash}`;

/** Failed attempts per message, for the messages whose failure may be their own. */
export class FailedAttempts {
  /** Bounded: a flood of distinct failing messages must not grow it without end. */
  static readonly #LIMIT = 10_000;
  readonly #counts = new Map<string, number>();

  /** Some message's failures are counted (callers skip making keys for `stored` while none are). */
  get pending(): boolean {
    return this.#counts.size > 0;
  }

  /** The message was stored: its earlier failures no longer count. */
  stored(key: string): void {
    this.#counts.delete(key);
  }

  /** Counts one failure; returns how many so far. At MAX_ATTEMPTS the message is forgotten: the caller drops it. */
  failed(key: string): number {
    const attempts = (this.#counts.get(key) ?? 0) + 1;
    if (attempts >= MAX_ATTEMPTS) {
      this.#counts.delete(key);
    } else {
      if (this.#counts.size >= FailedAttempts.#LIMIT) this.#counts.clear();
      this.#counts.set(key, attempts);
    }
    return attempts;
  }
}

/** What became of one item of a batch (writeBatch). */
export type ItemResult<R> =
  | { readonly type: 'written'; readonly value: R }
  /** Not written: not acknowledged, it comes again. */
  | { readonly type: 'failed'; readonly error: unknown }
  /** Failed MAX_ATTEMPTS times on its own: the caller counts it as INTERNAL and acknowledges it. */
  | { readonly type: 'dropped'; readonly error: unknown; readonly attempts: number };

export interface BatchWrites<T, R> {
  /** Writes every item in one transaction; returns one value per item, in order. */
  writeAll(items: readonly T[]): R[];
  /** Writes one item in a transaction of its own. */
  writeOne(item: T): R;
  /** The item's attempt key (attemptKey); asked only when a failure is counted or may be pending. */
  key(item: T): string;
}

export interface BatchWritten<R> {
  /** One per item, in order. */
  readonly results: ItemResult<R>[];
  /**
   * Set when the whole batch's write failed: `oneByOne` when its items were then written one by one,
   * else the database could not take the write and none was.
   */
  readonly failure?: BatchFailure;
}

/**
 * The policy above, for statuses (ingest.ts) and records (record-batch.ts) alike: the whole batch in
 * one transaction; when the database cannot take the write, none of it; on any other failure each
 * item alone, counting its failures in `attempts`, so a poison item alone fails and, after
 * MAX_ATTEMPTS, is dropped.
 */
export function writeBatch<T, R>(items: readonly T[], writes: BatchWrites<T, R>, attempts: FailedAttempts): BatchWritten<R> {
  try {
    const values = writes.writeAll(items);
    if (attempts.pending) for (const item of items) attempts.stored(writes.key(item));
    return { results: values.map((value) => ({ type: 'written', value })) };
  } catch (error) {
    if (databaseUnavailable(error)) return { results: items.map(() => ({ type: 'failed', error })), failure: { error, oneByOne: false } };
    return { results: oneByOne(items, writes, attempts), failure: { error, oneByOne: true } };
  }
}

function oneByOne<T, R>(items: readonly T[], writes: BatchWrites<T, R>, attempts: FailedAttempts): ItemResult<R>[] {
  let unavailable: unknown;
  return items.map((item): ItemResult<R> => {
    // once the database cannot take a write, the rest would only wait for it too
    if (unavailable !== undefined) return { type: 'failed', error: unavailable };
    try {
      const value = writes.writeOne(item);
      if (attempts.pending) attempts.stored(writes.key(item));
      return { type: 'written', value };
    } catch (error) {
      if (databaseUnavailable(error)) {
        unavailable = error;
        return { type: 'failed', error };
      }
      const count = attempts.failed(writes.key(item));
      return count < MAX_ATTEMPTS ? { type: 'failed', error } : { type: 'dropped', error, attempts: count };
    }
  });
}

/** How a batch's failed write was handled (writeBatch's `failure`); what the worker reports as `batchError`. */
export interface BatchFailure {
  readonly error: unknown;
  readonly oneByOne: boolean;
}

/** The policy's log lines, one text each wherever a batch is written (logged once the batch is settled). */
export const batchLog = {
  /**
   * One line for a batch whose write failed, for statuses (ingest.ts) and records (record-intake.ts)
   * alike: stored one by one (only worth saying for more than one message), or not stored because the
   * database cannot take the write, which a full disk does to every batch: one line per 10 s through
   * the caller's `throttle`, with the count suppressed meanwhile.
   */
  failure(log: Logger, failure: BatchFailure | undefined, messages: number, throttle: LogThrottle): void {
    if (failure === undefined) return;
    if (!failure.oneByOne) {
      const suppressed = throttle.take('unavailable');
      if (suppressed !== undefined) log.error({ err: failure.error, messages, suppressed }, 'database cannot take the write now; batch not stored, it comes again');
    } else if (messages > 1) {
      log.warn({ err: failure.error, messages }, 'batch not stored whole; its messages were stored one by one');
    }
  },
  dropped(log: Logger, err: unknown, topic: string, attempts: number): void {
    log.error({ err, topic, attempts }, 'message failed repeatedly; dropped');
  },
};

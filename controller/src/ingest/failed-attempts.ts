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

/**
 * Lets one log line per key through per interval and counts the rest, so a device flooding bad
 * payloads cannot flood the log. Bounded: the key table is cleared when it grows large (a flood of
 * invented device ids).
 */
const MAX_KEYS = 10_000;

export class LogThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, { last: number; suppressed: number }>();

  constructor(intervalMs: number, now: () => number = () => performance.now()) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Undefined: stay quiet. A number: log now, mentioning that many suppressed since the last line. */
  take(key: string): number | undefined {
    const now = this.#now();
    const entry = this.#keys.get(key);
    if (entry !== undefined && now - entry.last < this.#intervalMs) {
      entry.suppressed += 1;
      return undefined;
    }
    if (this.#keys.size >= MAX_KEYS) this.#keys.clear();
    this.#keys.set(key, { last: now, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }

  allow(key: string): boolean {
    return this.take(key) !== undefined;
  }
}

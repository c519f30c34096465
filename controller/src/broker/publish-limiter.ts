/**
 * Per-client publish rate: a token bucket per client id (rate per second, burst). A client over its
 * rate is slowed down, not cut off: the broker holds its PUBLISH until a token is due, and aedes reads
 * nothing more from that client's socket meanwhile (it reads the next chunk only when every packet of
 * the last one is handled), so TCP pushes back on the flooding client alone. Nothing is dropped: an
 * agent's record stays in its outbox until acknowledged, so dropping would only move the loss there,
 * and disconnecting would make it reconnect and send the same burst again. The client's later
 * packets (PINGREQ, PUBACK) wait behind the held ones: only a client far over its rate for longer
 * than its keepalive times itself out.
 */
export interface PublishLimits {
  /** Sustained publishes per second per client; 0 = no limit. */
  ratePerSecond: number;
  /** Publishes a client may send at once before the rate applies. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class PublishLimiter {
  readonly #limits: PublishLimits;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limits: PublishLimits) {
    this.#limits = limits;
  }

  /**
   * Takes one token for `clientId` and returns how many ms its publish must wait (0: go now). A wait
   * reserves its token, so the publishes of one client leave in the order they came.
   */
  take(clientId: string, nowMs: number): number {
    const { ratePerSecond, burst } = this.#limits;
    if (ratePerSecond <= 0) return 0;
    const bucket = this.#buckets.get(clientId) ?? { tokens: burst, at: nowMs };
    bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.at) * ratePerSecond) / 1000);
    bucket.at = nowMs;
    bucket.tokens -= 1;
    this.#buckets.set(clientId, bucket);
    return bucket.tokens >= 0 ? 0 : Math.ceil((-bucket.tokens * 1000) / ratePerSecond);
  }

  forget(clientId: string): void {
    this.#buckets.delete(clientId);
  }
}

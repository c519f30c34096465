/**
 * Reconnect delays: exponential with "equal jitter" (AWS Architecture Blog, "Exponential Backoff And
 * Jitter", 2015): half the capped exponential step is fixed, half random. Devices that lost the same
 * broker spread their retries out instead of reconnecting in one burst, and none retries in a tight loop.
 * mqtt.js 5.16 only knows a fixed `reconnectPeriod` (MQTT.js#561 asked for backoff; not merged), so the
 * link drives reconnects itself with this.
 */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Delay before connection attempt number `attempt` (0 = first retry); `random` returns [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const step = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + random() * (step / 2));
}

/**
 * Time as the agent sees it, injected so tests can drive it. `now()` is wall time in ms (event times of
 * a live source, record times); `monotonic()` never goes back and measures durations (latency, pacing).
 */
export interface Clock {
  now(): number;
  monotonic(): number;
  /** Resolves after `ms`, or early (without rejecting) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      // global setTimeout (not node:timers/promises) so vitest's fake timers can drive it
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

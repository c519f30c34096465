/**
 * Preloaded into the controllers of bench:ingest (NODE_OPTIONS=--import): writes the main thread's
 * event-loop delay, one JSON line per second (p99 and max in ms over that second), to
 * PDM_BENCH_LOOP_FILE. Plain JavaScript so the controller runs without a TypeScript loader.
 */
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const file = process.env['PDM_BENCH_LOOP_FILE'];
if (isMainThread && file !== undefined) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  setInterval(() => {
    appendFileSync(file, `${JSON.stringify({ at: Date.now(), p99: h.percentile(99) / 1e6, max: h.max / 1e6 })}\n`);
    h.reset();
  }, 1000).unref();
}

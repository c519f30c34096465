/**
 * An opt-in memory trace of a benchmark's controller (bench:reports, PDM_BENCH_RSS_TRACE=1): after each round,
 * the process's resident memory from Linux /proc (all threads: the main thread, the report worker, SQLite's
 * caches, malloc's arenas) beside the main thread's V8 heap from the controller's own /metrics (prom-client's
 * default gauges; no debug endpoint). The worker's heap is not exposed: it is inside RssAnon minus the main
 * thread's heap and external memory, with everything native.
 */
import { PdmError } from '@pdm/protocol';
import { memoryOf } from './controller.js';

export interface RssSample {
  readonly label: string;
  /** /proc/<pid>/status, MiB. */
  readonly rss: number;
  readonly anon: number;
  readonly file: number;
  readonly hwm: number;
  /** The main thread's V8 heap (used / total) and external memory (ArrayBuffers and other native memory V8 is told of), MiB. */
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}

const MiB = 2 ** 20;

function procStatus(pid: number): Pick<RssSample, 'rss' | 'anon' | 'file' | 'hwm'> {
  const m = memoryOf(pid);
  return { rss: m.rss / MiB, anon: m.anon / MiB, file: m.file / MiB, hwm: m.hwm / MiB };
}

/** One unlabelled gauge of a Prometheus text exposition, MiB (NaN when absent). */
function gauge(exposition: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(exposition)?.[1] ?? Number.NaN) / MiB;
}

export async function sampleMemory(label: string, pid: number, httpUrl: string): Promise<RssSample> {
  const res = await fetch(`${httpUrl}/metrics`);
  const text = await res.text();
  if (!res.ok) throw new PdmError('INTERNAL', `GET /metrics: HTTP ${res.status}`, { context: { body: text.slice(0, 300) } });
  return {
    label, ...procStatus(pid),
    heapUsed: gauge(text, 'nodejs_heap_size_used_bytes'),
    heapTotal: gauge(text, 'nodejs_heap_size_total_bytes'),
    external: gauge(text, 'nodejs_external_memory_bytes'),
  };
}

export function formatSample(s: RssSample): string {
  const f = (n: number): string => n.toFixed(0);
  return `| ${s.label} | ${f(s.rss)} | ${f(s.anon)} | ${f(s.file)} | ${f(s.hwm)} | ${f(s.heapUsed)} / ${f(s.heapTotal)} | ${f(s.external)} | ${f(s.anon - s.heapTotal - s.external)} |`;
}

/** The trace as a markdown table (MiB). */
export function formatTrace(samples: readonly RssSample[]): string {
  return [
    '| after | VmRSS | RssAnon | RssFile | VmHWM | main heap used / total | main external | RssAnon - main heap - external (worker, SQLite, malloc) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...samples.map(formatSample),
  ].join('\n');
}

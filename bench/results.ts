/**
 * What the issue-9 benchmarks share: the run header (date, Node, CPUs, load average), medians and
 * percentiles, goal verdicts, and writing one top-level section of bench/RESULTS.md.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const RESULTS = fileURLToPath(new URL('RESULTS.md', import.meta.url));
/** A section's hand-written analysis starts at this heading; a rerun keeps it (the numbers above it change). */
export const NOTES_HEADING = '## Where the time goes';

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const loadNow = (): string => loadavg().map((l) => l.toFixed(1)).join(' ');

export function runHeader(loadAtStart?: string): string {
  const start = loadAtStart === undefined ? '' : `${loadAtStart} at the start, `;
  return `Run: ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), load average ${start}${loadNow()} at the end (shared machine: compare the same-run ratios, not single rates).`;
}

export function ratioVerdict(ratio: number, goal: number, direction: 'le' | 'ge'): string {
  const met = direction === 'le' ? ratio <= goal : ratio >= goal;
  return `${ratio.toFixed(2)}x (goal ${direction === 'le' ? '<=' : '>='} ${goal}x: ${met ? 'met' : 'MISSED'})`;
}

/**
 * Replaces (or appends) the top-level section `# title` of bench/RESULTS.md with `body`, keeping the
 * old section's hand-written part from NOTES_HEADING on, and every other benchmark's section.
 * PDM_BENCH_NO_RESULTS=1: nothing is written.
 */
export function resultsSection(title: string, body: string): void {
  // profiling and trial runs (PDM_BENCH_NO_RESULTS=1) print their figures but leave the file alone
  if (process.env['PDM_BENCH_NO_RESULTS'] === '1') return;
  const old = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  const lines = old.split('\n');
  const heading = `# ${title}`;
  const start = lines.indexOf(heading);
  const fresh = [heading, '', ...body.trimEnd().split('\n'), ''];
  if (start < 0) {
    writeFileSync(RESULTS, `${[old.trimEnd(), '', ...fresh].join('\n')}`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('# '));
  if (end < 0) end = lines.length;
  const notesAt = lines.findIndex((l, i) => i > start && i < end && l === NOTES_HEADING);
  const notes = notesAt < 0 ? [] : lines.slice(notesAt, end);
  writeFileSync(RESULTS, [...lines.slice(0, start), ...fresh, ...notes, ...lines.slice(end)].join('\n'));
}

/**
 * The metric windows and the shadow comparison windows across a restart. Every pipeline commit that
 * carries the feature-window tail (features/window-tail.ts) carries one snapshot of the windows not
 * published yet (the open one and closed ones whose record is not taken), with the shadow candidate's
 * alert state, taken at the same reading mark, in the same transaction. So after a SIGKILL it describes
 * exactly the readings that are durable, and at a stop before the end of input the windows are kept
 * here instead of being published early: the next start goes on with them, and every window is published
 * once, with the counts of an uninterrupted run (but for its latencies, metric-windows.ts).
 *
 * A snapshot is taken back only when the source resumed at exactly its reading mark (the same test as
 * the drift windows', drift-state.ts); the comparison windows and the candidate's alert state only when
 * the same active model and candidate run. Anything else (none stored, as on the first start after an
 * update that adds this snapshot; unreadable; another asset, source or resume point) is logged and
 * ignored: the windows then start empty, as they did before snapshots.
 *
 * Layout: UTF-8 JSON validated by `snapshotSchema` (a few hundred bytes: the counts, no per-row values).
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { PdmError, describeIssues, modelRefSchema, readingRejectReasons, type FeatureSpec, type ModelRef } from '@pdm/protocol';
import type { Mark } from '../features/window-tail.js';
import type { AlertState } from '../inference/alerts.js';
import type { Outbox, StateWrite } from '../outbox/outbox.js';
import { readSnapshot, resumeMismatch } from '../stored-snapshot.js';
import { COMPARISON_BINS, type ComparisonState } from '../shadow/comparison.js';
import type { MetricWindowsState } from './metric-windows.js';

/**
 * The candidate's side of a snapshot: whose comparison it is (with what a record of it names: the
 * deployment, and the active model's alert rule that sets the histogram edges), its windows and the
 * candidate's alert state.
 */
export interface ShadowState {
  readonly active: ModelRef;
  readonly candidate: ModelRef;
  readonly deploymentId: string | undefined;
  readonly spec: Pick<FeatureSpec, 'threshold' | 'alertWhen'>;
  readonly alerts: AlertState;
  readonly windows: ComparisonState;
}

export interface OpenWindowsState {
  readonly metrics: MetricWindowsState;
  readonly shadow: ShadowState | undefined;
}

/** What the pipeline needs: the windows to start from, and the state write that keeps the current ones. */
export interface OpenWindowsKeeper {
  /** The stored windows when the source resumed at the snapshot's reading mark; undefined otherwise (logged). */
  restore(): OpenWindowsState | undefined;
  /** The snapshot of `state` taken at the reading mark `readings`, for a commit. */
  snapshot(readings: Mark, state: OpenWindowsState): StateWrite;
}

export interface OpenWindowsDeps {
  readonly outbox: Pick<Outbox, 'state'>;
  readonly assetId: string;
  /** Length of a metric (and comparison) window: a snapshot holds only for windows of the same length. */
  readonly windowMs: number;
  /** What is replayed (file and filter): a snapshot holds only for the same source. */
  readonly source: string;
  /** Where the source resumed (its reading mark), or undefined when it started from its first row. */
  readonly resumedAfter: () => Mark | undefined;
  readonly log: Logger;
}

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const time = z.number().int().min(-8.64e15).max(8.64e15);
const bins = z.array(count).length(COMPARISON_BINS);

const snapshotSchema = z.strictObject({
  // 2: with windowMs (1 had none: a window length changed between runs went unnoticed)
  schemaVersion: z.literal(2),
  assetId: z.string(),
  windowMs: z.number().int().min(1),
  source: z.string(),
  readings: z.strictObject({ time, count: count.min(1) }),
  metrics: z.array(z.strictObject({
    start: time, readings: count, rejected: z.partialRecord(z.enum(readingRejectReasons), count), inferences: count, inferenceErrors: count, alerts: count,
  })),
  shadow: z.strictObject({
    active: modelRefSchema,
    candidate: modelRefSchema,
    deploymentId: z.string().min(1).nullable(),
    spec: z.strictObject({ threshold: z.number().finite(), alertWhen: z.enum(['above', 'below']) }),
    // JSON has no -Infinity: null is "never raised"
    alerts: z.strictObject({ over: z.boolean(), lastRaisedAt: time.nullable() }),
    windows: z.array(z.strictObject({
      start: time, n: count, agree: count, absDiff: z.number().finite().min(0), activeAlerts: count, candidateAlerts: count, candidateErrors: count,
      activeCounts: bins, candidateCounts: bins,
    })),
  }).nullable(),
});
type Snapshot = z.output<typeof snapshotSchema>;

export class OpenWindows implements OpenWindowsKeeper {
  private readonly key: string;
  private restored = false;

  constructor(private readonly deps: OpenWindowsDeps) {
    this.key = `open-windows:${deps.assetId}`;
  }

  snapshot(readings: Mark, state: OpenWindowsState): StateWrite {
    const { shadow } = state;
    const snapshot: Snapshot = {
      schemaVersion: 2, assetId: this.deps.assetId, windowMs: this.deps.windowMs, source: this.deps.source, readings: { time: readings.time, count: readings.count },
      metrics: [...state.metrics.windows],
      shadow: shadow === undefined ? null : {
        ...shadow,
        deploymentId: shadow.deploymentId ?? null,
        spec: { threshold: shadow.spec.threshold, alertWhen: shadow.spec.alertWhen },
        alerts: { over: shadow.alerts.over, lastRaisedAt: Number.isFinite(shadow.alerts.lastRaisedAt) ? shadow.alerts.lastRaisedAt : null },
        windows: shadow.windows.map((w) => ({ ...w, activeCounts: [...w.activeCounts], candidateCounts: [...w.candidateCounts] })),
      },
    };
    // checked as a restart reads it: a value it would refuse is not written (the pipeline's commit logs it)
    return { key: this.key, value: Buffer.from(JSON.stringify(validated(snapshot, 'not taken')), 'utf8') };
  }

  restore(): OpenWindowsState | undefined {
    if (this.restored) return undefined;
    this.restored = true;
    const { log, assetId, source } = this.deps;
    const snapshot = this.read();
    if (snapshot === undefined) return undefined;
    const ignored = (why: string, level: 'info' | 'warn' = 'warn'): undefined =>
      (log[level]({ why }, 'metric-window snapshot ignored; metric and comparison windows start empty'), undefined);
    if (snapshot.assetId !== assetId || snapshot.source !== source) return ignored('taken for another asset or source');
    // a changed metricsWindowSeconds: its windows would be published with the new length (README)
    if (snapshot.windowMs !== this.deps.windowMs) return ignored('taken with another window length', 'info');
    const mismatch = resumeMismatch(this.deps.resumedAfter(), snapshot.readings);
    if (mismatch !== undefined) return ignored(mismatch.why, mismatch.level);
    const { shadow } = snapshot;
    log.info({ metricWindows: snapshot.metrics.length, comparisonWindows: shadow?.windows.length ?? 0 }, 'metric windows restored');
    return {
      metrics: { windows: snapshot.metrics },
      shadow: shadow === null ? undefined : { ...shadow, deploymentId: shadow.deploymentId ?? undefined, alerts: { over: shadow.alerts.over, lastRaisedAt: shadow.alerts.lastRaisedAt ?? Number.NEGATIVE_INFINITY } },
    };
  }

  /** The stored snapshot; undefined (logged when unreadable) when there is none to use. */
  private read(): Snapshot | undefined {
    return readSnapshot(this.deps, this.key, decode, {
      outboxFailed: 'metric-window snapshot not read: outbox failed; windows start empty', unreadable: 'metric-window snapshot unreadable; windows start empty',
    });
  }
}

/** A stored snapshot, validated; throws STATE_INVALID saying what is wrong with it. */
export function decode(raw: Buffer): Snapshot {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw new PdmError('STATE_INVALID', `metric-window snapshot: not JSON: ${(cause as Error).message}`, { cause, context: { bytes: raw.length } });
  }
  return validated(json, 'unreadable', raw.length);
}

/** `value` as a snapshot (schema and invariants); throws STATE_INVALID saying what is wrong with it. */
function validated(value: unknown, what: string, bytes?: number): Snapshot {
  const invalid = (problem: string) => new PdmError('STATE_INVALID', `metric-window snapshot ${what}: ${problem}`, { context: { bytes } });
  const parsed = snapshotSchema.safeParse(value);
  if (!parsed.success) throw invalid(describeIssues(parsed.error));
  const problem = inconsistency(parsed.data);
  if (problem !== undefined) throw invalid(problem);
  return parsed.data;
}

/** What no snapshot the windows take can hold, or undefined. */
function inconsistency(snapshot: Snapshot): string | undefined {
  const { windowMs, readings } = snapshot;
  // a metric window opens on the reading that comes after the mark, before that reading counts in it
  const lists = [
    ['metrics', snapshot.metrics.map((w) => ({ start: w.start, holds: w.readings > 0 }))],
    ['shadow.windows', (snapshot.shadow?.windows ?? []).map((w) => ({ start: w.start, holds: true }))],
  ] as const;
  for (const [where, windows] of lists) {
    for (const [i, { start, holds }] of windows.entries()) {
      if (start % windowMs !== 0) return `${where}: start ${start} is not aligned to the window length ${windowMs}`;
      if (i > 0 && start <= windows[i - 1]!.start) return `${where}: start ${start} does not come after ${windows[i - 1]!.start}`;
      if (holds && start > readings.time) return `${where}: start ${start} of a window with rows is after the reading mark's time ${readings.time}`;
    }
  }
  for (const w of snapshot.shadow?.windows ?? []) {
    if (w.agree > w.n) return `shadow.windows: agree ${w.agree} is more than n ${w.n} (start ${w.start})`;
    const sum = (counts: readonly number[]) => counts.reduce((a, b) => a + b, 0);
    if (sum(w.activeCounts) !== w.n || sum(w.candidateCounts) !== w.n) return `shadow.windows: score bins do not sum to n ${w.n} (start ${w.start})`;
  }
  return undefined;
}

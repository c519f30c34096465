/**
 * Metric windows on event time: fixed windows of `windowMs` aligned to the epoch (so hourly windows
 * start on the hour). A window closes when the first reading of a later window arrives, but its record
 * is taken only once no buffered row of it awaits inference (`takeClosed` after a flush), so inference
 * counts land in the window of each row's time while rows keep being batched across window edges.
 * Windows without readings are not emitted.
 */
import type { ModelRef, ReadingRejectReason } from '@pdm/protocol';
import { buildEach, metricWindow } from '../outbox/agent-records.js';
import type { RecordDraft } from '../outbox/outbox.js';

export interface MetricWindowsConfig {
  readonly windowMs: number;
  readonly assetId: string;
  readonly model: ModelRef;
}

class Window {
  readings = 0;
  readonly rejected: Partial<Record<ReadingRejectReason, number>> = {};
  inferences = 0;
  inferenceErrors = 0;
  alerts = 0;
  readonly latencies: number[] = [];

  constructor(readonly start: number | undefined) {}
}

/**
 * A window's counts as a restart keeps them (open-windows.ts). Its batch latencies are not kept: they
 * time this process's runs, so a window resumed after a restart reports those of the runs after it.
 */
export interface MetricWindowState {
  readonly start: number;
  readonly readings: number;
  readonly rejected: Partial<Record<ReadingRejectReason, number>>;
  readonly inferences: number;
  readonly inferenceErrors: number;
  readonly alerts: number;
}

/** The windows not published yet: the open one, then the closed ones whose record is not taken, oldest first. */
export interface MetricWindowsState {
  readonly windows: readonly MetricWindowState[];
}

export class MetricWindows {
  /** The window readings arrive in; its start is unknown until the first reading with a usable time. */
  private current = new Window(undefined);
  /** Closed windows whose record has not been taken yet, oldest first. */
  private closed: Window[] = [];

  constructor(private readonly config: MetricWindowsConfig) {}

  /** Moves to the window holding `time` (a usable event time, in order), closing the current one if needed. */
  advance(time: number): void {
    const aligned = Math.floor(time / this.config.windowMs) * this.config.windowMs;
    if (this.current.start === undefined) {
      // readings with unusable times seen so far count in the first real window
      const early = this.current;
      this.current = new Window(aligned);
      Object.assign(this.current, { readings: early.readings, rejected: early.rejected });
    } else if (aligned > this.current.start) {
      this.closed.push(this.current);
      this.current = new Window(aligned);
    }
  }

  reading(): void {
    this.current.readings++;
  }

  rejected(reason: ReadingRejectReason): void {
    this.current.rejected[reason] = (this.current.rejected[reason] ?? 0) + 1;
  }

  /** One inference run over rows at `times`; its latency counts in the window of the last row. */
  inferred(times: readonly number[], latencyMs: number): void {
    for (const t of times) this.windowOf(t).inferences++;
    if (times.length > 0) this.windowOf(times[times.length - 1]!).latencies.push(latencyMs);
  }

  inferenceErrors(times: readonly number[]): void {
    for (const t of times) this.windowOf(t).inferenceErrors++;
  }

  alerted(time: number): void {
    this.windowOf(time).alerts++;
  }

  /**
   * Records of the closed windows; call when no buffered row belongs to them any more. A window whose
   * record its builder refuses is dropped alone and handed to `refused`: kept, it would be refused again
   * at every later commit and take that commit's predictions and alerts down with it.
   */
  takeClosed(refused: (err: unknown) => void): RecordDraft[] {
    const closed = this.closed;
    this.closed = [];
    return buildEach(closed, (w) => this.draft(w), refused);
  }

  /** Closes everything (end of the source) and returns the records (a refused one as in `takeClosed`). */
  closeAll(refused: (err: unknown) => void): RecordDraft[] {
    if (this.current.start !== undefined) this.closed.push(this.current);
    this.current = new Window(undefined);
    return this.takeClosed(refused);
  }

  /** The windows not published yet, for a snapshot; none while no reading had a usable time. */
  state(): MetricWindowsState {
    const all = this.current.start === undefined ? this.closed : [...this.closed, this.current];
    return {
      windows: all.map(({ start, readings, rejected, inferences, inferenceErrors, alerts }) => ({
        start: start!, readings, rejected: { ...rejected }, inferences, inferenceErrors, alerts,
      })),
    };
  }

  /** Goes on from a snapshot's windows (before any reading of this run): the last one is the open one. */
  restore(state: MetricWindowsState): void {
    const windows = state.windows.map((s) => Object.assign(new Window(s.start), { ...s, rejected: { ...s.rejected } }));
    const current = windows.pop();
    if (current === undefined) return;
    this.closed = windows;
    this.current = current;
  }

  private windowOf(time: number): Window {
    if (this.current.start === undefined || time >= this.current.start) return this.current;
    for (let i = this.closed.length - 1; i >= 0; i--) if (time >= this.closed[i]!.start!) return this.closed[i]!;
    // older than every open window (cannot happen with in-order times): count it in the oldest
    return this.closed[0] ?? this.current;
  }

  /** The window's record, built valid (agent-records.ts; it throws PAYLOAD_INVALID on a count or time no record can hold). */
  private draft(w: Window): RecordDraft {
    return metricWindow({
      assetId: this.config.assetId,
      start: w.start!,
      end: w.start! + this.config.windowMs,
      readings: w.readings,
      rejected: w.rejected,
      inferences: w.inferences,
      inferenceErrors: w.inferenceErrors,
      alerts: w.alerts,
      latencyMs: w.latencies.length > 0 ? percentiles(w.latencies) : undefined,
      model: this.config.model,
    });
  }
}

/** Nearest-rank percentiles of per-batch latencies, in ms. */
export function percentiles(values: readonly number[]): { p50: number; p95: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
  return { p50: rank(0.5), p95: rank(0.95), max: sorted[sorted.length - 1]! };
}

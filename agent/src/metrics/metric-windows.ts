/**
 * Metric windows on event time: fixed windows of `windowMs` aligned to the epoch (so hourly windows
 * start on the hour), each closed into one `metrics` record when the first reading of a later window
 * arrives, or when the source ends. Windows without readings are not emitted.
 */
import type { ModelRef, ReadingRejectReason } from '@pdm/protocol';
import type { RecordDraft } from '../outbox/outbox.js';

export interface MetricWindowsConfig {
  readonly windowMs: number;
  readonly assetId: string;
  readonly model: ModelRef;
}

class Tally {
  readings = 0;
  readonly rejected: Partial<Record<ReadingRejectReason, number>> = {};
  inferences = 0;
  inferenceErrors = 0;
  alerts = 0;
  readonly latencies: number[] = [];
}

export class MetricWindows {
  private start: number | undefined;
  private tally = new Tally();

  constructor(private readonly config: MetricWindowsConfig) {}

  /** True when a reading at `time` falls after the open window, i.e. `advance` would close it. */
  wouldClose(time: number): boolean {
    return this.start !== undefined && time >= this.start + this.config.windowMs;
  }

  /** Moves to the window holding `time`; returns the record of the window it closed, if any. */
  advance(time: number): RecordDraft | undefined {
    const closed = this.wouldClose(time) ? this.close() : undefined;
    this.start ??= Math.floor(time / this.config.windowMs) * this.config.windowMs;
    return closed;
  }

  reading(): void {
    this.tally.readings++;
  }

  rejected(reason: ReadingRejectReason): void {
    this.tally.rejected[reason] = (this.tally.rejected[reason] ?? 0) + 1;
  }

  inferred(rows: number, latencyMs: number): void {
    this.tally.inferences += rows;
    this.tally.latencies.push(latencyMs);
  }

  inferenceErrors(rows: number): void {
    this.tally.inferenceErrors += rows;
  }

  alerted(): void {
    this.tally.alerts++;
  }

  /** Closes the open window (e.g. at the end of the source); undefined when none is open. */
  close(): RecordDraft | undefined {
    const { start, tally } = this;
    this.start = undefined;
    this.tally = new Tally();
    if (start === undefined) return undefined;
    const end = new Date(start + this.config.windowMs).toISOString();
    return {
      kind: 'metrics',
      record: {
        time: end,
        assetId: this.config.assetId,
        windowStart: new Date(start).toISOString(),
        windowEnd: end,
        readings: tally.readings,
        rejectedReadings: { ...tally.rejected },
        inferences: tally.inferences,
        inferenceErrors: tally.inferenceErrors,
        alerts: tally.alerts,
        ...(tally.latencies.length > 0 ? { latencyMs: percentiles(tally.latencies) } : {}),
        model: this.config.model,
      },
    };
  }
}

/** Nearest-rank percentiles of per-batch latencies, in ms. */
export function percentiles(values: readonly number[]): { p50: number; p95: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
  return { p50: rank(0.5), p95: rank(0.95), max: sorted[sorted.length - 1]! };
}

/**
 * Cumulative counters of this agent process, reported in every heartbeat and in the final log line.
 * `readings` counts every reading the source delivered, rejected ones included.
 */
import type { ReadingRejectReason } from '@pdm/protocol';

export class Counters {
  readings = 0;
  readonly rejectedReadings: Partial<Record<ReadingRejectReason, number>> = {};
  /** Rows the model ran on. */
  inferences = 0;
  /** Rows whose score was non-finite, or whose run failed: never published as scores. */
  inferenceErrors = 0;
  /** Scores committed to the outbox. */
  predictions = 0;
  alerts = 0;
  events = 0;
  /** Records that could not be committed to the outbox (logged with the cause). */
  commitFailures = 0;
  /** Commands that failed validation. */
  invalidCommands = 0;

  reject(reason: ReadingRejectReason): void {
    this.rejectedReadings[reason] = (this.rejectedReadings[reason] ?? 0) + 1;
  }

  rejectedTotal(): number {
    return Object.values(this.rejectedReadings).reduce((a, b) => a + b, 0);
  }
}

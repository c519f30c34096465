/** What the pipeline tells about each inference run, so a new model's trial can judge it (updates). */
import type { ModelRole } from '@pdm/protocol';
import type { Scorer } from './slots.js';

export interface RunOutcome {
  /** Rows in the run. */
  readonly rows: number;
  /** Rows whose score was NaN or infinite. */
  readonly nonFinite: number;
  readonly latencyMs: number;
}

export interface InferenceObserver {
  scored(role: ModelRole, scorer: Scorer, outcome: RunOutcome): void;
  failed(role: ModelRole, scorer: Scorer, err: unknown): void;
}

/** The quality monitor as the pipeline sees it (monitor.ts QualityMonitor implements it). */
import type { Mark } from '../features/window-tail.js';
import type { ScoringSet } from '../inference/slots.js';
import type { RecordDraft, StateWrite } from '../outbox/outbox.js';
import type { SourceEvent } from '../sources/source.js';

/** What the pipeline calls; see Pipeline. */
export interface QualityTap {
  /** Event time reached by the source (a reading's time). */
  advance(time: number): void;
  /** The models that run from now on (the pipeline adopted them): their drift windows stay pending at a stop. */
  running(set: ScoringSet): void;
  /**
   * Prediction drafts about to be committed, with the rows they were scored from (in event-time order):
   * their drift is counted now, and `driftSnapshot` then gives the state to commit with them. The next
   * `scored` settles it.
   */
  stage(set: ScoringSet, rows: readonly ScoredRow[], drafts: readonly RecordDraft[]): void;
  /**
   * Prediction drafts committed (none when their commit failed, which undoes a `stage`), with the rows
   * (by event time) they were scored from.
   */
  scored(set: ScoringSet, rows: readonly ScoredRow[], drafts: readonly RecordDraft[]): void;
  /** A machine event from the source. */
  event(event: SourceEvent): void;
  /** Records of windows that became final; call only when no row waits for inference. */
  takeDue(): RecordDraft[];
  /** End of input: what has matured so far. */
  closeAll(): RecordDraft[];
  /** Whether the drift counts changed (`stage`, `takeDue`, `closeAll`) since the last drift snapshot stored. */
  driftChanged(): boolean;
  /** The drift state as it stands, taken at the pipeline's reading `mark`, for a commit. */
  driftSnapshot(mark: Mark | undefined): StateWrite | undefined;
  /** The last `driftSnapshot` was stored (clears `driftChanged`; one left out on a full disk does not). */
  driftStored(): void;
}

export interface ScoredRow {
  readonly time: number;
  readonly row: Float32Array;
  /**
   * The row's score by the active model and by the candidate (undefined: its run failed, or none runs):
   * a prediction batch holds the rows whose score of its role is finite, in order, which is how a
   * prediction finds its own row among rows of equal times. Absent: every row has a prediction.
   */
  readonly scores?: { readonly active: number; readonly shadow: number | undefined };
}

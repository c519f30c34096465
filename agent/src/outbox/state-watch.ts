/**
 * Whether the states an outbox keeps beside its records (the pipeline's restart snapshots: the resume
 * point with the feature-window tail, the drift counts, the open windows) are current, for the device's
 * status (OutboxStats). A state left out for want of room (sqlite-full.ts) is carried again by the
 * pipeline in its next commits, each with a newer snapshot of the same key: counted per commit, a full
 * disk would add about one per reading. So what is counted is a stretch: from the first commit that
 * leaves a state out to the commit that stores every key left out since. While one lasts, the stored
 * resume point is frozen: a restart would replay from it.
 *
 * The stored time dates the resume point: only a commit that stores it (a state marked `resumePoint`) with
 * no key left out moves it. The pipeline commits the drift counts alone whenever they change
 * (restart-state.ts), and such a commit says nothing of where a restart would resume.
 */
import type { StateWrite } from './outbox.js';

const isResumePoint = (st: StateWrite): boolean => st.resumePoint === true;

/** What OutboxStats reports of the states. */
export interface StateFigures {
  /** Stretches of commits that left states out, since the agent started; a state carried again and left out again counts once. */
  readonly statesNotStored: number;
  /** When (wall-clock ms) a commit last stored the resume point and left no state out since; survives restarts; undefined: none recorded. */
  readonly stateStoredAt: number | undefined;
  /** When the current stretch began: the first commit that left a state out that no commit stored since; undefined while current. */
  readonly stateNotStoredSince: number | undefined;
}

export class StateWatch {
  /** The keys left out and not stored since. */
  private readonly leftOut = new Set<string>();
  private stretches = 0;
  private since: number | undefined;

  /** `storedAt`: as the storage recorded it at start (undefined when it has none). */
  constructor(private storedAt: number | undefined) {}

  /** Whether storing these states dates the resume point: they hold it, and every key an earlier commit left out. */
  dates(states: readonly StateWrite[]): boolean {
    if (!states.some(isResumePoint) || this.leftOut.size > states.length) return false;
    for (const key of this.leftOut) if (!states.some((st) => st.key === key)) return false;
    return true;
  }

  /** A commit at `at` stored these states (none is a no-op). */
  stored(states: readonly StateWrite[], at: number): void {
    if (states.length === 0) return;
    if (this.dates(states)) this.storedAt = at;
    for (const st of states) this.leftOut.delete(st.key);
    if (this.leftOut.size === 0) this.since = undefined;
  }

  /** A commit at `at` left these states out. */
  notStored(states: readonly StateWrite[], at: number): void {
    if (states.length === 0) return;
    if (this.since === undefined) {
      this.since = at;
      this.stretches++;
    }
    for (const st of states) this.leftOut.add(st.key);
  }

  figures(): StateFigures {
    return { statesNotStored: this.stretches, stateStoredAt: this.storedAt, stateNotStoredSince: this.since };
  }
}

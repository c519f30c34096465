/**
 * Drift of one model version in one role: per event-time window (aligned to the epoch), the rows it
 * scored are binned on the reference edges its card carries, per feature and for the score, and the
 * window's PSI against the reference shares is published. A window closes once event time has passed
 * its end; a window without rows is not emitted.
 *
 * The counts of a window are one flat Float64Array (every reference's bins one after the other), so a
 * snapshot of the windows for the outbox (drift-state.ts) is a copy of it, and so is a checkpoint taken
 * before rows are counted ahead of their commit (`checkpoint`, `rollback`).
 */
import type { ModelCard } from '@pdm/protocol';
import { shortHash } from '../outbox/state-frame.js';
import { binIndex, psi } from './psi.js';

interface Reference {
  readonly name: string;
  /** Column of the feature row, or -1 for the score. */
  readonly column: number;
  readonly edges: readonly number[];
  readonly shares: readonly number[];
}

export interface DriftFigures {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly n: number;
  readonly features: Record<string, number>;
  readonly score?: number;
}

/** One open or closed window as a snapshot holds it: its start, its rows and its bin counts (`cells` of them). */
export interface DriftWindowState {
  readonly start: number;
  readonly n: number;
  readonly counts: Float64Array;
}

/** The windows of a tracker before rows were counted ahead of their commit (the open window's counts are kept aside). */
export interface DriftCheckpoint {
  readonly current: Acc | undefined;
  readonly n: number;
  readonly closed: number;
}

class Acc {
  constructor(
    readonly start: number,
    public n: number,
    readonly counts: Float64Array,
  ) {}
}

/** The references of a card that the rows can be compared with; empty when the card has none. */
export function driftReferences(card: ModelCard): Reference[] {
  const bins = card.reference?.bins ?? {};
  const columns = new Map(card.featureSpec.features.map((f, i) => [f.name, i]));
  const refs: Reference[] = [];
  for (const [name, b] of Object.entries(bins)) {
    const column = name === 'score' ? -1 : columns.get(name);
    if (column === undefined || b.edges.length !== b.shares.length + 1) continue;
    refs.push({ name, column, edges: b.edges, shares: b.shares });
  }
  return refs;
}

export class DriftWindows {
  private current: Acc | undefined;
  private closed: Acc[] = [];
  /** Where each reference's bins start in a window's counts; the last entry is the number of cells. */
  private readonly offsets: readonly number[];
  /** What a restored window must have been counted on (drift-state.ts): a hash of the references. */
  readonly fingerprint: string;
  /** The open window's counts at the last checkpoint: one at a time, so no copy is allocated per batch. */
  private readonly saved: Float64Array;

  constructor(readonly windowMs: number, private readonly refs: readonly Reference[]) {
    const offsets = [0];
    for (const r of refs) offsets.push(offsets[offsets.length - 1]! + r.shares.length);
    this.offsets = offsets;
    this.saved = new Float64Array(this.cells);
    this.fingerprint = shortHash(refs.map((r) => [r.name, r.column, r.edges, r.shares]));
  }

  /** Bin counts per window: every reference's bins. */
  get cells(): number {
    return this.offsets[this.offsets.length - 1]!;
  }

  get idle(): boolean {
    return this.current === undefined && this.closed.length === 0;
  }

  /** One scored row at event time `time`, in time order. */
  add(time: number, row: ArrayLike<number>, score: number): void {
    const start = Math.floor(time / this.windowMs) * this.windowMs;
    if (this.current === undefined) this.current = this.open(start);
    else if (start > this.current.start) {
      this.closed.push(this.current);
      this.current = this.open(start);
    }
    const w = this.current;
    w.n++;
    const { refs, offsets } = this;
    for (let i = 0; i < refs.length; i++) {
      const r = refs[i]!;
      const v = r.column < 0 ? score : row[r.column]!;
      if (Number.isFinite(v)) w.counts[offsets[i]! + binIndex(r.edges, v)]!++;
    }
  }

  /**
   * The rows behind a batch's predictions at `times`, with their scores. The predictions are an in-order
   * subsequence of `rows`: the rows whose score (`scoreOf`, when it is known) is finite, so one pointer
   * walks both, passing by the rows without a prediction: rows of equal times each go to their own
   * prediction, where a map by time would give every prediction at a time the features of its last row,
   * and a row whose score was not finite would give its features to the next row's prediction.
   */
  addScored<R extends { readonly time: number; readonly row: ArrayLike<number> }>(
    times: readonly number[], predictions: readonly { readonly score: number }[], rows: readonly R[], scoreOf?: (row: R) => number | undefined,
  ): void {
    const unscored = (row: R): boolean => {
      const score = scoreOf?.(row);
      return score !== undefined && !Number.isFinite(score);
    };
    let r = 0;
    for (let i = 0; i < predictions.length; i++) {
      const t = times[i]!;
      while (r < rows.length && (rows[r]!.time < t || unscored(rows[r]!))) r++;
      const row = rows[r];
      if (row === undefined || row.time !== t) continue;
      this.add(t, row.row, predictions[i]!.score);
      r++;
    }
  }

  /** Windows whose end event time `now` has reached. */
  takeClosed(now: number): DriftFigures[] {
    if (this.current !== undefined && this.current.start + this.windowMs <= now) {
      this.closed.push(this.current);
      this.current = undefined;
    }
    const out = this.closed.map((w) => this.figures(w));
    this.closed = [];
    return out;
  }

  closeAll(): DriftFigures[] {
    if (this.current !== undefined) this.closed.push(this.current);
    this.current = undefined;
    return this.takeClosed(Number.NEGATIVE_INFINITY);
  }

  /** The windows held, oldest first (the closed ones not taken yet, then the open one); views, not copies. */
  windows(): DriftWindowState[] {
    return this.current === undefined ? [...this.closed] : [...this.closed, this.current];
  }

  /** Takes the windows of a snapshot (oldest first, counts of `cells` each) instead of the ones held. */
  restore(windows: readonly DriftWindowState[]): void {
    const accs = windows.map((w) => new Acc(w.start, w.n, Float64Array.from(w.counts)));
    this.current = accs.pop();
    this.closed = accs;
  }

  /**
   * What `rollback` returns to, valid until the next checkpoint: rows are only ever added to the open
   * window or open a new one, so the open window's counts and the number of closed ones say it all.
   */
  checkpoint(): DriftCheckpoint {
    const current = this.current;
    if (current !== undefined) this.saved.set(current.counts);
    return { current, n: current?.n ?? 0, closed: this.closed.length };
  }

  /** Forgets the rows counted since `cp` (their commit failed). */
  rollback(cp: DriftCheckpoint): void {
    // the window open at the checkpoint may have been closed by a later row since: it is the first one closed after it
    this.closed.length = cp.closed;
    this.current = cp.current;
    if (cp.current === undefined) return;
    cp.current.counts.set(this.saved);
    cp.current.n = cp.n;
  }

  private open(start: number): Acc {
    return new Acc(start, 0, new Float64Array(this.cells));
  }

  private figures(w: Acc): DriftFigures {
    const features: Record<string, number> = {};
    let score: number | undefined;
    this.refs.forEach((r, i) => {
      const value = Math.round(psi(r.shares, w.counts.subarray(this.offsets[i]!, this.offsets[i + 1]!)) * 1e6) / 1e6;
      if (r.column < 0) score = value;
      else features[r.name] = value;
    });
    return { windowStart: w.start, windowEnd: w.start + this.windowMs, n: w.n, features, ...(score === undefined ? {} : { score }) };
  }
}

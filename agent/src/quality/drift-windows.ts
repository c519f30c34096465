/**
 * Drift of one model version in one role: per event-time window (aligned to the epoch), the rows it
 * scored are binned on the reference edges its card carries, per feature and for the score, and the
 * window's PSI against the reference shares is published. A window closes once event time has passed
 * its end; a window without rows is not emitted.
 */
import type { ModelCard } from '@pdm/protocol';
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

class Acc {
  n = 0;
  readonly counts: number[][];

  constructor(readonly start: number, refs: readonly Reference[]) {
    this.counts = refs.map((r) => new Array<number>(r.shares.length).fill(0));
  }
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

  constructor(private readonly windowMs: number, private readonly refs: readonly Reference[]) {}

  get idle(): boolean {
    return this.current === undefined && this.closed.length === 0;
  }

  /** One scored row at event time `time`, in time order. */
  add(time: number, row: ArrayLike<number>, score: number): void {
    const start = Math.floor(time / this.windowMs) * this.windowMs;
    if (this.current === undefined) this.current = new Acc(start, this.refs);
    else if (start > this.current.start) {
      this.closed.push(this.current);
      this.current = new Acc(start, this.refs);
    }
    const w = this.current;
    w.n++;
    this.refs.forEach((r, i) => {
      const v = r.column < 0 ? score : row[r.column]!;
      if (Number.isFinite(v)) w.counts[i]![binIndex(r.edges, v)]!++;
    });
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

  private figures(w: Acc): DriftFigures {
    const features: Record<string, number> = {};
    let score: number | undefined;
    this.refs.forEach((r, i) => {
      const value = Math.round(psi(r.shares, w.counts[i]!) * 1e6) / 1e6;
      if (r.column < 0) score = value;
      else features[r.name] = value;
    });
    return { windowStart: w.start, windowEnd: w.start + this.windowMs, n: w.n, features, ...(score === undefined ? {} : { score }) };
  }
}

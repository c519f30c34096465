/**
 * Shadow mode (FIELD.md: "the candidate runs on the same windows as the active model and only compact
 * comparisons travel"): per event-time window, aligned like the metric windows, how often the
 * candidate made the same alert decision as the active model, the mean absolute score difference, both
 * score histograms on shared edges, how many alerts each would have raised, and how many rows the
 * candidate failed on (a failed run or a non-finite score). Rows the active model could not score are
 * not compared. A window without rows is not emitted.
 */
import type { FeatureSpec, ModelRef } from '@pdm/protocol';
import { buildEach } from '../outbox/agent-records.js';
import type { RecordDraft } from '../outbox/outbox.js';

export interface ComparisonConfig {
  readonly windowMs: number;
  readonly assetId: string;
  readonly active: ModelRef;
  readonly candidate: ModelRef;
  readonly deploymentId?: string;
  /** The active model's spec: its direction and threshold set the histogram range. */
  readonly spec: Pick<FeatureSpec, 'threshold' | 'alertWhen'>;
}

/** One row as both models saw it. `candidate` is undefined when its run failed. */
export interface ComparedRow {
  readonly time: number;
  readonly active: number;
  readonly activePassed: boolean;
  readonly activeRaised: boolean;
  readonly candidate: number | undefined;
  readonly candidatePassed: boolean;
  readonly candidateRaised: boolean;
}

/** Bins of the score histograms. */
export const COMPARISON_BINS = 10;

class Acc {
  n = 0;
  agree = 0;
  absDiff = 0;
  activeAlerts = 0;
  candidateAlerts = 0;
  candidateErrors = 0;
  readonly activeCounts = new Array<number>(COMPARISON_BINS).fill(0);
  readonly candidateCounts = new Array<number>(COMPARISON_BINS).fill(0);

  constructor(readonly start: number) {}

  get empty(): boolean {
    return this.n === 0 && this.candidateErrors === 0 && this.activeAlerts === 0;
  }
}

/** A comparison window's sums as a restart keeps them (open-windows.ts). */
export interface ComparisonWindowState {
  readonly start: number;
  readonly n: number;
  readonly agree: number;
  readonly absDiff: number;
  readonly activeAlerts: number;
  readonly candidateAlerts: number;
  readonly candidateErrors: number;
  readonly activeCounts: readonly number[];
  readonly candidateCounts: readonly number[];
}

/** The windows not published yet: the closed ones whose record is not taken, oldest first, then the open one. */
export type ComparisonState = readonly ComparisonWindowState[];

export class ShadowComparison {
  private current: Acc | undefined;
  private closed: Acc[] = [];
  private readonly edges: number[];

  constructor(private readonly config: ComparisonConfig) {
    this.edges = histogramEdges(config.spec);
  }

  add(rows: readonly ComparedRow[]): void {
    for (const row of rows) {
      const w = this.windowFor(row.time);
      if (!Number.isFinite(row.active)) continue;
      if (row.activeRaised) w.activeAlerts++;
      if (row.candidate === undefined || !Number.isFinite(row.candidate)) {
        w.candidateErrors++;
        continue;
      }
      w.n++;
      if (row.activePassed === row.candidatePassed) w.agree++;
      w.absDiff += Math.abs(row.active - row.candidate);
      if (row.candidateRaised) w.candidateAlerts++;
      w.activeCounts[this.bin(row.active)]!++;
      w.candidateCounts[this.bin(row.candidate)]!++;
    }
  }

  /** Records of the windows that closed; one that cannot be built (a time no Date holds) goes to `refused` alone. */
  takeClosed(refused: (err: unknown) => void): RecordDraft[] {
    const closed = this.closed;
    this.closed = [];
    return buildEach(closed.filter((w) => !w.empty), (w) => this.draft(w), refused);
  }

  /** Closes the current window too (end of input, or the candidate changed). */
  closeAll(refused: (err: unknown) => void): RecordDraft[] {
    if (this.current !== undefined) this.closed.push(this.current);
    this.current = undefined;
    return this.takeClosed(refused);
  }

  /** The windows not published yet, for a snapshot. */
  state(): ComparisonState {
    const all = this.current === undefined ? this.closed : [...this.closed, this.current];
    return all.map((w) => ({
      start: w.start, n: w.n, agree: w.agree, absDiff: w.absDiff, activeAlerts: w.activeAlerts, candidateAlerts: w.candidateAlerts,
      candidateErrors: w.candidateErrors, activeCounts: [...w.activeCounts], candidateCounts: [...w.candidateCounts],
    }));
  }

  /** Goes on from a snapshot's windows (before any row of this run): the last one is the open one. */
  restore(state: ComparisonState): void {
    const windows = state.map((s) => {
      const acc = new Acc(s.start);
      Object.assign(acc, { n: s.n, agree: s.agree, absDiff: s.absDiff, activeAlerts: s.activeAlerts, candidateAlerts: s.candidateAlerts, candidateErrors: s.candidateErrors });
      acc.activeCounts.splice(0, COMPARISON_BINS, ...s.activeCounts);
      acc.candidateCounts.splice(0, COMPARISON_BINS, ...s.candidateCounts);
      return acc;
    });
    this.current = windows.pop();
    this.closed = windows;
  }

  private windowFor(time: number): Acc {
    const start = Math.floor(time / this.config.windowMs) * this.config.windowMs;
    if (this.current === undefined) this.current = new Acc(start);
    else if (start > this.current.start) {
      this.closed.push(this.current);
      this.current = new Acc(start);
    }
    return this.current;
  }

  /** Values outside the edges count in the first or last bin. */
  private bin(score: number): number {
    const lo = this.edges[0]!;
    const hi = this.edges[COMPARISON_BINS]!;
    const i = Math.floor(((score - lo) / (hi - lo)) * COMPARISON_BINS);
    return Math.min(COMPARISON_BINS - 1, Math.max(0, i));
  }

  private draft(w: Acc): RecordDraft {
    const { config } = this;
    const end = new Date(w.start + config.windowMs).toISOString();
    return {
      kind: 'comparisons',
      record: {
        time: end,
        assetId: config.assetId,
        ...(config.deploymentId === undefined ? {} : { deploymentId: config.deploymentId }),
        active: config.active,
        candidate: config.candidate,
        windowStart: new Date(w.start).toISOString(),
        windowEnd: end,
        n: w.n,
        agreement: w.n === 0 ? 0 : w.agree / w.n,
        meanAbsScoreDiff: w.n === 0 ? 0 : w.absDiff / w.n,
        activeAlerts: w.activeAlerts,
        candidateAlerts: w.candidateAlerts,
        candidateErrors: w.candidateErrors,
        activeScores: { edges: this.edges, counts: [...w.activeCounts] },
        candidateScores: { edges: this.edges, counts: [...w.candidateCounts] },
      },
    };
  }
}

/**
 * Ten equal bins: [0, 1] for a probability (alert above), [0, 2 x threshold] for a remaining life
 * (alert below, the threshold in the middle). Fixed edges keep windows and devices comparable.
 */
export function histogramEdges(spec: Pick<FeatureSpec, 'threshold' | 'alertWhen'>): number[] {
  const hi = spec.alertWhen === 'above' ? Math.max(1, spec.threshold) : Math.max(2 * spec.threshold, 1);
  return Array.from({ length: COMPARISON_BINS + 1 }, (_, i) => (hi * i) / COMPARISON_BINS);
}

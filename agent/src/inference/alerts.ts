/**
 * When a score becomes an alert. A prediction "passes" when its score is past the threshold in the
 * spec's direction (`above`: score >= threshold; `below`: score <= threshold). An alert is raised on the
 * rising edge (the first passing score after one that did not pass) and, while scores keep passing,
 * again once `cooldownMs` of event time has gone by since the last one, so a lasting condition is
 * re-raised but not on every reading.
 *
 * Severity: critical once the score is `criticalMargin` of the way from the threshold to the end of the
 * score's range: 1 for `above` (a probability), 0 for `below` (a remaining life). So with margin 0.5 and
 * threshold 0.2, a score of 0.6 or more is critical; with threshold 48 h below, 24 h or less is critical.
 */
import type { FeatureSpec } from '@pdm/protocol';

export interface AlertPolicyConfig {
  readonly cooldownMs: number;
  readonly criticalMargin: number;
}

export interface AlertDecision {
  readonly passed: boolean;
  /** Set when this prediction raises an alert. */
  readonly raise?: { readonly severity: 'warning' | 'critical' };
}

/**
 * What the policy remembers between predictions: whether the last one passed and when the last alert was
 * raised. Kept with the feature windows across a restart (features/window-tail.ts), so a score that passes
 * on both sides of a restart raises no alert an uninterrupted run would not.
 */
export interface AlertState {
  readonly over: boolean;
  /** Event time (ms) of the last alert raised; -Infinity before the first. */
  readonly lastRaisedAt: number;
}

// the decisions without an alert, shared: most predictions raise none, and a decision is read-only
const NOT_PASSED: AlertDecision = Object.freeze({ passed: false });
const PASSED: AlertDecision = Object.freeze({ passed: true });

export class AlertPolicy {
  private over = false;
  private lastRaisedAt = Number.NEGATIVE_INFINITY;
  private readonly criticalAt: number;

  constructor(
    private readonly spec: Pick<FeatureSpec, 'threshold' | 'alertWhen'>,
    private readonly config: AlertPolicyConfig,
  ) {
    const { threshold, alertWhen } = spec;
    const end = alertWhen === 'above' ? Math.max(1, threshold) : Math.min(0, threshold);
    // a threshold at the range end (e.g. above 1) leaves no room: every alert is critical
    this.criticalAt = threshold + config.criticalMargin * (end - threshold);
  }

  passes(score: number): boolean {
    return this.spec.alertWhen === 'above' ? score >= this.spec.threshold : score <= this.spec.threshold;
  }

  state(): AlertState {
    return { over: this.over, lastRaisedAt: this.lastRaisedAt };
  }

  /** Goes on from a state this policy's model had before a restart. */
  restore(state: AlertState): void {
    this.over = state.over;
    this.lastRaisedAt = state.lastRaisedAt;
  }

  /** Feed predictions in event-time order. */
  observe(time: number, score: number): AlertDecision {
    if (!this.passes(score)) {
      this.over = false;
      return NOT_PASSED;
    }
    const rising = !this.over;
    this.over = true;
    if (!rising && time - this.lastRaisedAt < this.config.cooldownMs) return PASSED;
    this.lastRaisedAt = time;
    return { passed: true, raise: { severity: this.severityOf(score) } };
  }

  private severityOf(score: number): 'warning' | 'critical' {
    const critical = this.spec.alertWhen === 'above' ? score >= this.criticalAt : score <= this.criticalAt;
    return critical ? 'critical' : 'warning';
  }
}

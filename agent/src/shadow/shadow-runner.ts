/**
 * Scores a batch with the shadow candidate after the active model scored it: the candidate's
 * predictions go upstream with role `shadow` (with `alert` saying whether it would have passed its
 * threshold) and feed the comparison windows. Its alert decisions are counted, never raised, and
 * nothing it outputs leads to an action.
 */
import type { Logger } from 'pino';
import { predictionBatch } from '../outbox/agent-records.js';
import type { RecordDraft } from '../outbox/outbox.js';
import type { InferenceObserver } from '../inference/observer.js';
import type { Scorer } from '../inference/slots.js';
import { ShadowComparison, type ComparedRow } from './comparison.js';

export interface ActiveRow {
  readonly time: number;
  readonly row: Float32Array;
  readonly score: number;
  readonly passed: boolean;
  readonly raised: boolean;
}

export interface ShadowRunnerDeps {
  readonly assetId: string;
  readonly windowMs: number;
  readonly active: Scorer;
  readonly shadow: Scorer;
  readonly observer: InferenceObserver | undefined;
  readonly log: Logger;
  /** A comparison window whose record cannot be built (comparison.ts takeClosed). */
  readonly refused: (err: unknown) => void;
}

export class ShadowRunner {
  readonly comparison: ShadowComparison;

  constructor(private readonly deps: ShadowRunnerDeps) {
    const { active, shadow } = deps;
    this.comparison = new ShadowComparison({
      windowMs: deps.windowMs,
      assetId: deps.assetId,
      active: active.model.ref,
      candidate: shadow.model.ref,
      ...(shadow.deployment === undefined ? {} : { deploymentId: shadow.deployment.deploymentId }),
      spec: active.model.card.featureSpec,
    });
  }

  /**
   * Scores `rows` with the candidate; returns its prediction batch (if any finite score) and closed comparison
   * windows, and its score of each row (undefined when its run failed).
   */
  async score(rows: readonly ActiveRow[]): Promise<{ drafts: RecordDraft[]; scores: readonly number[] | undefined }> {
    const { shadow, observer, log } = this.deps;
    let scores: readonly number[] | undefined;
    try {
      const result = await shadow.runner.score(rows.map((r) => r.row));
      scores = result.scores;
      observer?.scored('shadow', shadow, { rows: rows.length, nonFinite: scores.filter((s) => !Number.isFinite(s)).length, latencyMs: result.latencyMs });
    } catch (err) {
      log.warn({ err, rows: rows.length }, 'shadow inference failed');
      observer?.failed('shadow', shadow, err);
    }
    const compared: ComparedRow[] = rows.map((r, i) => {
      const s = scores?.[i];
      const finite = s !== undefined && Number.isFinite(s);
      const decision = finite ? shadow.alerts.observe(r.time, s) : { passed: false };
      return {
        time: r.time,
        active: r.score,
        activePassed: r.passed,
        activeRaised: r.raised,
        candidate: finite ? s : undefined,
        candidatePassed: decision.passed,
        candidateRaised: 'raise' in decision && decision.raise !== undefined,
      };
    });
    this.comparison.add(compared);
    return { drafts: [...this.predictions(compared), ...this.comparison.takeClosed(this.deps.refused)], scores };
  }

  private predictions(rows: readonly ComparedRow[]): RecordDraft[] {
    const { shadow, assetId } = this.deps;
    const scored = rows.filter((r) => r.candidate !== undefined);
    const record = predictionBatch(
      { assetId, model: shadow.model.ref, role: 'shadow', spec: shadow.model.card.featureSpec },
      { times: scored.map((r) => r.time), scores: scored.map((r) => r.candidate!), alerts: scored.map((r) => r.candidatePassed) },
    );
    return record === undefined ? [] : [record];
  }
}

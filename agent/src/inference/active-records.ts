/**
 * The records of the active model's scores for one batch: its prediction batch (finite scores only) and
 * the alerts its policy raises, and the rows as the shadow runner takes them. Pure but for the alert
 * policy's state (Scorer.alerts), which every score goes through in time order.
 */
import type { ActionSink } from '../actions/http-action.js';
import { alertRecord, predictionBatch } from '../outbox/agent-records.js';
import type { RecordDraft } from '../outbox/outbox.js';
import type { ActiveRow } from '../shadow/shadow-runner.js';
import type { RowBatch } from './row-batch.js';
import type { Scorer } from './slots.js';

export interface ActiveRecords {
  readonly drafts: RecordDraft[];
  /** Built only when a shadow candidate runs (`withShadow`). */
  readonly activeRows: ActiveRow[];
  /** Times of the rows whose score was not finite: published nowhere, counted as inference errors. */
  readonly nonFinite: number[];
}

export function activeRecords(
  scorer: Scorer, batch: RowBatch, scores: readonly number[], opts: { assetId: string; withShadow: boolean; actions: ActionSink | undefined },
): ActiveRecords {
  const spec = scorer.model.card.featureSpec;
  const { withShadow } = opts;
  const rows = { times: [] as number[], scores: [] as number[], alerts: [] as boolean[] };
  const alertDrafts: RecordDraft[] = [];
  const activeRows: ActiveRow[] = [];
  const nonFinite: number[] = [];
  for (let i = 0; i < batch.size; i++) {
    const time = batch.times[i]!;
    const score = scores[i]!;
    if (!Number.isFinite(score)) {
      nonFinite.push(time);
      if (withShadow) activeRows.push({ time, row: batch.row(i), score, passed: false, raised: false });
      continue;
    }
    const decision = scorer.alerts.observe(time, score);
    rows.times.push(time);
    rows.scores.push(score);
    rows.alerts.push(decision.passed);
    if (withShadow) activeRows.push({ time, row: batch.row(i), score, passed: decision.passed, raised: decision.raise !== undefined });
    if (decision.raise !== undefined) alertDrafts.push(alertDraft(scorer, time, score, decision.raise.severity, opts));
  }
  const record = predictionBatch({ assetId: opts.assetId, model: scorer.model.ref, role: 'active', spec }, rows);
  return { drafts: record === undefined ? alertDrafts : [record, ...alertDrafts], activeRows, nonFinite };
}

/** An alert of the active model; in `act` mode it says whether the action was triggered or needs review. */
function alertDraft(
  scorer: Scorer, time: number, score: number, severity: 'warning' | 'critical', opts: { assetId: string; actions: ActionSink | undefined },
): RecordDraft {
  const spec = scorer.model.card.featureSpec;
  const deployment = scorer.deployment;
  const action = deployment?.mode === 'act' ? (opts.actions?.decide(score, spec) ?? 'review') : undefined;
  return alertRecord({
    assetId: opts.assetId,
    model: scorer.model.ref,
    time,
    score,
    threshold: spec.threshold,
    severity,
    message: `score ${score.toPrecision(4)} ${spec.alertWhen === 'above' ? '>=' : '<='} threshold ${spec.threshold}`,
    ...(action === undefined ? {} : { action }),
    ...(deployment === undefined ? {} : { deploymentId: deployment.deploymentId }),
  });
}

/**
 * Deployment status records (`up/deployment`), committed to the outbox like every record: they reach
 * the controller whenever the link allows, in seq order, also when the device reverted while it had no
 * link. A failure and the revert it caused are committed in one transaction.
 */
import type { Logger } from 'pino';
import type { DeploymentStatusValue, ModelRef } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Outbox } from '../outbox/outbox.js';

export interface DeploymentLabel {
  readonly deploymentId: string;
  readonly model: ModelRef;
}

export interface StatusStep {
  readonly status: DeploymentStatusValue;
  readonly detail?: string | undefined;
}

export class DeploymentReporter {
  constructor(private readonly deps: { readonly outbox: Outbox; readonly clock: Clock; readonly log: Logger }) {}

  report(label: DeploymentLabel, ...steps: StatusStep[]): void {
    const time = new Date(this.deps.clock.now()).toISOString();
    const drafts = steps.map((s) => ({
      kind: 'deployment' as const,
      record: {
        time,
        deploymentId: label.deploymentId,
        model: label.model,
        status: s.status,
        ...(s.detail === undefined ? {} : { detail: s.detail.slice(0, 512) }),
      },
    }));
    const level = steps.some((s) => s.status.startsWith('failed:') || s.status.startsWith('rejected:')) ? 'warn' : 'info';
    this.deps.log[level]({ deploymentId: label.deploymentId, model: label.model, statuses: steps.map((s) => s.status), detail: steps.find((s) => s.detail)?.detail }, 'deployment status');
    try {
      this.deps.outbox.commit(drafts);
    } catch (err) {
      // the outbox is the one channel for these; losing one is logged loudly, never thrown into the caller
      this.deps.log.error({ err, deploymentId: label.deploymentId, statuses: steps.map((s) => s.status) }, 'deployment status not committed');
    }
  }
}

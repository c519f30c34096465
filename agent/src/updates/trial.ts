/**
 * The trial of a newly activated model (RAUC/Mender "commit after the new version proved itself"): it
 * passes once the model scored `inferences` rows, every score finite, with the p95 of its run
 * latencies (the first run, warm-up, left out) within `latencyBudgetMs`, and with the link up at that moment. It fails at the first
 * non-finite score or failed run (`non-finite`), on a p95 over budget (`latency`), or when the link
 * stays down for `linkLossSeconds` during the trial (`link-lost`: an update that cut the device off
 * reverts by itself). Loading and crash loops are judged at activation and start (activation.ts).
 */
import type { Logger } from 'pino';
import type { ModelRole } from '@pdm/protocol';
import type { InferenceObserver, RunOutcome } from '../inference/observer.js';
import type { Scorer } from '../inference/slots.js';
import { percentiles } from '../metrics/metric-windows.js';
import type { CrashHook } from './faults.js';

export interface TrialConfig {
  readonly inferences: number;
  readonly latencyBudgetMs: number;
  readonly linkLossSeconds: number;
}

export interface TrialLink {
  readonly connected: boolean;
  onUp(listener: () => void): () => void;
  onDown(listener: () => void): () => void;
}

export type TrialVerdict =
  | { readonly ok: true; readonly detail: string }
  | { readonly ok: false; readonly reason: 'non-finite' | 'latency' | 'link-lost'; readonly detail: string };

export interface TrialMonitorDeps {
  readonly config: TrialConfig;
  readonly link: TrialLink;
  readonly log: Logger;
  readonly crash: CrashHook;
  /** Called once per trial with its outcome. */
  readonly onVerdict: (deploymentId: string, verdict: TrialVerdict) => void;
}

interface Running {
  readonly role: ModelRole;
  readonly scorer: Scorer;
  readonly deploymentId: string;
  rows: number;
  readonly latencies: number[];
  enough: boolean;
}

export class TrialMonitor implements InferenceObserver {
  private running: Running | undefined;
  private linkTimer: ReturnType<typeof setTimeout> | undefined;
  private offs: (() => void)[] = [];

  constructor(private readonly deps: TrialMonitorDeps) {}

  start(): void {
    this.offs = [this.deps.link.onDown(() => this.linkDown()), this.deps.link.onUp(() => this.linkUp())];
  }

  stop(): void {
    for (const off of this.offs) off();
    this.offs = [];
    this.end();
  }

  get active(): { readonly role: ModelRole; readonly deploymentId: string } | undefined {
    return this.running;
  }

  begin(role: ModelRole, scorer: Scorer, deploymentId: string): void {
    this.end();
    this.running = { role, scorer, deploymentId, rows: 0, latencies: [], enough: false };
    if (!this.deps.link.connected) this.linkDown();
  }

  /** Stops watching (the trial ended or was superseded). */
  end(): void {
    clearTimeout(this.linkTimer);
    this.linkTimer = undefined;
    this.running = undefined;
  }

  scored(role: ModelRole, scorer: Scorer, outcome: RunOutcome): void {
    const t = this.running;
    if (t === undefined || t.scorer !== scorer || t.role !== role) return;
    const first = t.rows === 0;
    t.rows += outcome.rows;
    t.latencies.push(outcome.latencyMs);
    if (first) this.deps.crash('in-trial');
    if (outcome.nonFinite > 0) {
      this.conclude({ ok: false, reason: 'non-finite', detail: `${outcome.nonFinite} of ${outcome.rows} scores in a run were not finite` });
      return;
    }
    if (t.rows < this.deps.config.inferences) return;
    const p95 = trialP95(t.latencies);
    if (p95 > this.deps.config.latencyBudgetMs) {
      this.conclude({ ok: false, reason: 'latency', detail: `p95 run latency ${p95.toFixed(2)} ms over the budget of ${this.deps.config.latencyBudgetMs} ms` });
      return;
    }
    t.enough = true;
    if (this.deps.link.connected) this.pass();
  }

  failed(role: ModelRole, scorer: Scorer, err: unknown): void {
    const t = this.running;
    if (t === undefined || t.scorer !== scorer || t.role !== role) return;
    this.conclude({ ok: false, reason: 'non-finite', detail: `inference run failed: ${String((err as Error)?.message ?? err).slice(0, 200)}` });
  }

  private pass(): void {
    const t = this.running!;
    this.conclude({ ok: true, detail: `${t.rows} rows, p95 run latency ${trialP95(t.latencies).toFixed(2)} ms` });
  }

  private linkDown(): void {
    if (this.running === undefined || this.linkTimer !== undefined) return;
    this.linkTimer = setTimeout(() => {
      this.linkTimer = undefined;
      this.conclude({ ok: false, reason: 'link-lost', detail: `link down for ${this.deps.config.linkLossSeconds} s during the trial` });
    }, this.deps.config.linkLossSeconds * 1000);
  }

  private linkUp(): void {
    clearTimeout(this.linkTimer);
    this.linkTimer = undefined;
    // health checks passed while the link was down: the device proved it can still reach the controller
    if (this.running?.enough === true) this.pass();
  }

  private conclude(verdict: TrialVerdict): void {
    const t = this.running;
    if (t === undefined) return;
    this.end();
    this.deps.log.info({ deploymentId: t.deploymentId, role: t.role, ok: verdict.ok, detail: verdict.detail }, 'trial ended');
    this.deps.onVerdict(t.deploymentId, verdict);
  }
}

/** p95 of run latencies without the first run of the fresh session, which is warm-up (allocation). */
export function trialP95(latencies: readonly number[]): number {
  return percentiles(latencies.length > 1 ? latencies.slice(1) : latencies).p95;
}

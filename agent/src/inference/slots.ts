/**
 * The models the pipeline scores with, which can change while the agent runs (signed updates): the
 * active model (acted on) and, optionally, a shadow candidate scored on the same rows and never acted
 * on. Each change makes a new `ScoringSet` generation. The pipeline adopts a new generation only
 * between batches (after scoring what it buffered with the old one), and tells the slots so; only then
 * are sessions no longer used released, so a session is never released under a running inference.
 */
import type { DeploymentMode, FeatureSpec } from '@pdm/protocol';
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { AlertPolicy, type AlertPolicyConfig } from './alerts.js';
import { loadModel, type LoadedModel } from './model.js';
import type { SignalSupply } from '../sources/source.js';
import { InferenceRunner } from './runner.js';

export interface DeploymentInfo {
  readonly deploymentId: string;
  readonly release: number;
  readonly mode: DeploymentMode;
}

/** One loaded model with its runner and its own alert state. */
export interface Scorer {
  readonly model: LoadedModel;
  readonly runner: InferenceRunner;
  readonly alerts: AlertPolicy;
  /** Absent for the model named by the configuration. */
  readonly deployment?: DeploymentInfo;
}

export interface ScoringSet {
  readonly generation: number;
  readonly active: Scorer;
  readonly shadow?: Scorer;
}

/** What the pipeline needs: the newest set, and a way to say it moved to it. */
export interface ScoringSource {
  current(): ScoringSet;
  adopted(set: ScoringSet): void;
}

export function scorerFor(model: LoadedModel, clock: Clock, alerts: AlertPolicyConfig, deployment?: DeploymentInfo): Scorer {
  return {
    model,
    runner: new InferenceRunner({ model, clock }),
    alerts: new AlertPolicy(model.card.featureSpec, alerts),
    ...(deployment === undefined ? {} : { deployment }),
  };
}

/** A set that never changes: one model, as configured (tests, and agents without updates). */
export function fixedScoring(active: Scorer): ScoringSource {
  const set: ScoringSet = { generation: 0, active };
  return { current: () => set, adopted: () => undefined };
}

/** True when two specs turn the same readings into the same rows (same signals and features). */
export function sameRows(a: FeatureSpec, b: FeatureSpec): boolean {
  return JSON.stringify([a.signals, a.features]) === JSON.stringify([b.signals, b.features]);
}

export interface ModelSlotsDeps {
  readonly initial: Scorer;
  /** The sensor source: a model needing a signal it cannot deliver cannot run here. */
  readonly source: SignalSupply;
  readonly alerts: AlertPolicyConfig;
  readonly clock: Clock;
}

export class ModelSlots implements ScoringSource {
  private set: ScoringSet;
  /** The set the pipeline scores with now. */
  private held: ScoringSet;
  private readonly live = new Set<Scorer>();

  constructor(private readonly deps: ModelSlotsDeps) {
    this.set = { generation: 0, active: deps.initial };
    this.held = this.set;
    this.live.add(deps.initial);
  }

  current(): ScoringSet {
    return this.set;
  }

  /**
   * Loads a model directory as a scorer: the card, the sha256 in it, the spec against the session, and
   * the signals against the source. Throws MODEL_CARD_INVALID / MODEL_LOAD_FAILED / MODEL_SPEC_MISMATCH.
   */
  async open(dir: string, deployment?: DeploymentInfo): Promise<Scorer> {
    const model = await loadModel(dir);
    const missing = this.deps.source.unprovided(model.card.featureSpec.signals.map((s) => s.name));
    if (missing !== undefined) {
      await model.session.release();
      throw new PdmError('MODEL_SPEC_MISMATCH', `${model.card.name} ${model.card.version} needs signals the source cannot deliver: ${missing}`, {
        context: { missing },
      });
    }
    return scorerFor(model, this.deps.clock, this.deps.alerts, deployment);
  }

  /** Makes `next` the newest generation; the pipeline moves to it at its next batch boundary. */
  replace(next: { readonly active: Scorer; readonly shadow?: Scorer }): ScoringSet {
    if (next.active === this.set.active && next.shadow === this.set.shadow) return this.set;
    this.set = { generation: this.set.generation + 1, active: next.active, ...(next.shadow === undefined ? {} : { shadow: next.shadow }) };
    this.live.add(next.active);
    if (next.shadow !== undefined) this.live.add(next.shadow);
    // scorers of generations the pipeline never adopted are in nobody's hands
    void this.releaseUnused([this.set, this.held]);
    return this.set;
  }

  adopted(set: ScoringSet): void {
    this.held = set;
    void this.releaseUnused([this.set, set]);
  }

  /** Releases a scorer that never made it into a set (e.g. it failed a check after loading). */
  async discard(scorer: Scorer): Promise<void> {
    if (this.live.has(scorer)) return;
    await scorer.model.session.release();
  }

  async stop(): Promise<void> {
    const all = [...this.live];
    this.live.clear();
    for (const s of all) await s.model.session.release().catch(() => undefined);
  }

  private async releaseUnused(keep: readonly ScoringSet[]): Promise<void> {
    const used = new Set<Scorer>();
    for (const set of keep) {
      used.add(set.active);
      if (set.shadow !== undefined) used.add(set.shadow);
    }
    for (const s of [...this.live]) {
      if (used.has(s)) continue;
      this.live.delete(s);
      await s.model.session.release().catch(() => undefined);
    }
  }
}

/**
 * What runs, and every change of it: the pointer file (store/pointer.ts) and the loaded models
 * (inference/slots.ts) move together, the pointer always first, so a kill -9 between the two finds the
 * pointer's choice on restart. Transitions run one at a time:
 *
 *   recover   at start: count a boot of a trial (more than maxBoots: revert, `crash-loop`), load the
 *             pointer's models (a trial model that fails to load: revert, `load`)
 *   activate  a freshly installed version becomes active (fallback: the last committed active) or
 *             shadow, in trial; a trial still running is superseded
 *   commit    the trial passed: the trial mark goes, the fallback is kept until the next commit
 *   revert    the trial failed: the fallback is active again (or the shadow removed), `failed:<reason>`
 *             and `reverted` are committed together, with or without a link
 */
import type { Logger } from 'pino';
import { PdmError, type Manifest, type ModelRef, type Status } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { sameRows, type ModelSlots, type Scorer } from '../inference/slots.js';
import type { ModelStore } from '../store/model-store.js';
import { initialPointer, referencedDirs, type Entry, type Pointer, type StoredEntry } from '../store/pointer.js';
import type { CrashHook } from './faults.js';
import type { DeploymentReporter } from './reporter.js';
import type { TrialMonitor, TrialVerdict } from './trial.js';
import type { TrustStore } from './trust-store.js';

export interface ActivationDeps {
  readonly config: { readonly keepVersions: number; readonly maxBoots: number };
  /** The configured model directory and the scorer already loaded from it. */
  readonly factory: { readonly dir: string; readonly scorer: Scorer };
  readonly store: ModelStore;
  readonly slots: ModelSlots;
  readonly trust: TrustStore;
  readonly trial: TrialMonitor;
  readonly reporter: DeploymentReporter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly crash: CrashHook;
  /** Told after every change of the pointer (the status is republished, so models[] is current). */
  readonly onChange?: () => void;
}

type FailReason = 'load' | 'non-finite' | 'latency' | 'crash-loop' | 'link-lost';

export class Activation {
  private pointer: Pointer;
  /** Why the last stored version failed to open, for the `failed:load` detail. */
  private openFailure: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: ActivationDeps) {
    this.pointer = initialPointer(deps.factory.scorer.model.ref);
  }

  current(): Pointer {
    return this.pointer;
  }

  /** The status `models[]`: what runs, with release, mode, trial flag and deployment. */
  models(): Status['models'] {
    const p = this.pointer;
    const describe = (e: Entry, role: 'active' | 'shadow'): Status['models'][number] => ({
      ...e.model,
      role,
      ...(e.kind === 'store' ? { release: e.release, mode: e.mode, deploymentId: e.deploymentId } : {}),
      ...(p.trial?.role === role ? { trial: true } : {}),
    });
    return [describe(p.active, 'active'), ...(p.shadow === undefined ? [] : [describe(p.shadow, 'shadow')])];
  }

  /** At start, before any inference: settles a trial cut short by a crash and loads what the pointer names. */
  recover(): Promise<void> {
    return this.serial(async () => {
      this.pointer = this.readPointerOrFactory();
      const trial = this.pointer.trial;
      if (trial !== undefined) {
        const counted: Pointer = { ...this.pointer, trial: { ...trial, boots: trial.boots + 1 } };
        this.write(counted);
        if (counted.trial!.boots > this.deps.config.maxBoots) {
          this.revertPointer(counted, 'crash-loop', `started ${counted.trial!.boots} times while in trial (at most ${this.deps.config.maxBoots})`);
        }
      }
      await this.load();
      const p = this.pointer;
      if (p.trial !== undefined) {
        const { active, shadow } = this.deps.slots.current();
        this.deps.trial.begin(p.trial.role, p.trial.role === 'active' ? active : shadow!, p.trial.deploymentId);
      }
      this.deps.log.info({ models: this.models() }, 'models recovered');
    });
  }

  /**
   * Makes an installed version run in trial: active (fallback: the last committed active) or shadow.
   * A trial still running is undone first (reported `reverted`, superseded). The pointer is written
   * once, before the model is loaded; a load failure reverts at once.
   */
  activate(manifest: Manifest, dir: string): Promise<void> {
    return this.serial(async () => {
      const entry: StoredEntry = {
        kind: 'store', dir, model: manifest.model, release: manifest.release, mode: manifest.mode, deploymentId: manifest.deploymentId,
      };
      const base = this.supersede(this.pointer, entry);
      const role = manifest.mode === 'shadow' ? 'shadow' : 'active';
      const trial = { role, deploymentId: manifest.deploymentId, boots: 0, since: new Date(this.deps.clock.now()).toISOString() } as const;
      const keptShadow = base.shadow !== undefined && base.shadow.model.name !== entry.model.name ? { shadow: base.shadow } : {};
      const next: Pointer =
        role === 'shadow'
          ? { ...base, shadow: entry, trial }
          : { schemaVersion: 1, active: entry, previous: base.active, ...keptShadow, trial };
      this.write(next);
      this.deps.trust.recordInstall(manifest);
      this.deps.crash('after-pointer');
      await this.startTrial(entry, role);
    });
  }

  /** The trial monitor's verdict. */
  settle(deploymentId: string, verdict: TrialVerdict): Promise<void> {
    return this.serial(async () => {
      const p = this.pointer;
      if (p.trial?.deploymentId !== deploymentId) return;
      const entry = (p.trial.role === 'active' ? p.active : p.shadow) as StoredEntry;
      if (verdict.ok) {
        const { trial: _, ...committed } = p;
        this.write(committed);
        this.deps.reporter.report(entry, { status: 'committed', detail: verdict.detail });
        this.prune();
        return;
      }
      this.revertPointer(p, verdict.reason, verdict.detail);
      await this.load();
    });
  }

  private async startTrial(entry: StoredEntry, role: 'active' | 'shadow'): Promise<void> {
    await this.load();
    const p = this.pointer;
    if (p.trial?.deploymentId !== entry.deploymentId) return; // reverted while loading (reported there)
    const { active, shadow } = this.deps.slots.current();
    this.deps.reporter.report(entry, { status: 'trial', detail: `${role} in ${entry.mode} mode` });
    this.deps.trial.begin(role, role === 'active' ? active : shadow!, entry.deploymentId);
  }

  /**
   * Loads what the pointer names into the slots, reusing loaded scorers. A model in trial that does not
   * load is reverted (`failed:load`); a committed active that no longer loads (a damaged disk) leaves
   * its fallback, or else the configured model, running; a committed shadow that does not is dropped.
   */
  private async load(): Promise<void> {
    this.openFailure = undefined;
    let p = this.pointer;
    const opened = new Map<string, Scorer | undefined>();
    const scorerOf = async (e: Entry): Promise<Scorer | undefined> => {
      const key = e.kind === 'config' ? 'config' : e.dir;
      if (!opened.has(key)) opened.set(key, await this.scorerOf(e));
      return opened.get(key);
    };
    if (p.trial !== undefined && (await scorerOf(trialEntry(p))) === undefined) {
      p = this.revertPointer(p, 'load', `the model in trial did not load or does not fit: ${this.openFailure ?? 'unknown reason'}`.slice(0, 512));
    }
    let active = await scorerOf(p.active);
    for (const fallback of [p.previous, { kind: 'config', model: this.deps.factory.scorer.model.ref } as const]) {
      if (active !== undefined || fallback === undefined) continue;
      this.deps.log.error({ active: p.active, fallback }, 'active model does not load; falling back');
      p = { schemaVersion: 1, active: fallback, ...(p.shadow === undefined ? {} : { shadow: p.shadow }), ...(p.trial?.role === 'shadow' ? { trial: p.trial } : {}) };
      this.write(p);
      active = await scorerOf(p.active);
    }
    if (active === undefined) throw new PdmError('MODEL_LOAD_FAILED', 'no model loads, not even the configured one');
    let shadow = p.shadow === undefined ? undefined : await scorerOf(p.shadow);
    if (shadow !== undefined && !sameRows(active.model.card.featureSpec, shadow.model.card.featureSpec)) shadow = undefined;
    if (p.shadow !== undefined && shadow === undefined) {
      const why = 'the shadow model does not load or does not make the active model\'s rows';
      if (p.trial?.role === 'shadow') this.revertPointer(p, 'load', why);
      else {
        this.deps.log.warn({ shadow: p.shadow.model, deploymentId: p.shadow.deploymentId }, 'shadow model dropped: it does not load or fit the active model');
        this.write(this.dropShadow(p));
      }
    }
    this.deps.slots.replace({ active, ...(shadow === undefined ? {} : { shadow }) });
    // loaded but not used (a trial model that was reverted, a shadow that does not fit)
    for (const s of opened.values()) if (s !== undefined && s !== active && s !== shadow) await this.deps.slots.discard(s);
    this.prune();
  }

  /** Writes the pointer with the trial undone and reports `failed:<reason>` and `reverted` together. */
  private revertPointer(p: Pointer, reason: FailReason, detail: string): Pointer {
    const failed = trialEntry(p);
    const next = undoTrial(p);
    this.write(next);
    this.deps.trial.end();
    this.deps.reporter.report(failed, { status: `failed:${reason}`, detail }, { status: 'reverted', detail: `${describeEntry(next.active)} active` });
    return next;
  }

  private dropShadow(p: Pointer): Pointer {
    const { shadow: _, trial, ...rest } = p;
    return { ...rest, ...(trial !== undefined && trial.role !== 'shadow' ? { trial } : {}) };
  }

  /** A new deployment arrived while another was in trial: that trial is undone without a verdict. */
  private supersede(p: Pointer, by: StoredEntry): Pointer {
    if (p.trial === undefined) return p;
    this.deps.trial.end();
    this.deps.reporter.report(trialEntry(p), { status: 'reverted', detail: `superseded by deployment ${by.deploymentId} before its trial ended` });
    return undoTrial(p);
  }

  /** The loaded scorer for an entry, when the slots hold it; else it is loaded. */
  private async scorerOf(entry: Entry): Promise<Scorer | undefined> {
    const { active, shadow } = this.deps.slots.current();
    for (const s of [active, shadow]) if (s !== undefined && this.holds(s, entry)) return s;
    return this.tryOpen(entry);
  }

  private holds(scorer: Scorer, entry: Entry): boolean {
    if (entry.kind === 'config') return scorer.deployment === undefined;
    return scorer.deployment?.deploymentId === entry.deploymentId && scorer.model.dir === this.deps.store.versionPath(entry.dir);
  }

  private async tryOpen(entry: Entry): Promise<Scorer | undefined> {
    if (entry.kind === 'config') {
      const factory = this.deps.factory.scorer;
      if (this.deps.slots.current().active === factory) return factory;
      return this.deps.slots.open(this.deps.factory.dir).catch((err: unknown) => {
        this.deps.log.error({ err }, 'configured model does not load');
        return undefined;
      });
    }
    try {
      return await this.deps.slots.open(this.deps.store.versionPath(entry.dir), { deploymentId: entry.deploymentId, release: entry.release, mode: entry.mode });
    } catch (err) {
      this.openFailure = err instanceof Error ? err.message : String(err);
      this.deps.log.error({ err, dir: entry.dir }, 'model does not load');
      return undefined;
    }
  }

  private readPointerOrFactory(): Pointer {
    try {
      return this.deps.store.readPointer() ?? initialPointer(this.deps.factory.scorer.model.ref);
    } catch (err) {
      // written atomically, so only tampering or a broken disk gets here: run the configured model
      this.deps.log.error({ err }, 'model pointer unreadable; running the configured model');
      return initialPointer(this.deps.factory.scorer.model.ref);
    }
  }

  private prune(): void {
    try {
      const removed = this.deps.store.prune(this.deps.config.keepVersions, referencedDirs(this.pointer));
      if (removed.length > 0) this.deps.log.info({ removed }, 'old model versions removed');
    } catch (err) {
      this.deps.log.warn({ err }, 'pruning old versions failed');
    }
  }

  /** The one way the pointer changes: on disk first, then in memory. */
  private write(p: Pointer): void {
    this.deps.store.writePointer(p);
    this.pointer = p;
    this.deps.onChange?.();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

function trialEntry(p: Pointer): StoredEntry {
  return (p.trial!.role === 'active' ? p.active : p.shadow) as StoredEntry;
}

/** The pointer as it was before the trial: the fallback active again, or no shadow. */
function undoTrial(p: Pointer): Pointer {
  if (p.trial!.role === 'active') return { schemaVersion: 1, active: p.previous!, ...(p.shadow === undefined ? {} : { shadow: p.shadow }) };
  const { shadow: _, trial: __, ...rest } = p;
  return rest;
}

function describeEntry(e: Entry): string {
  const ref: ModelRef = e.model;
  return e.kind === 'store' ? `${ref.name} ${ref.version} (release ${e.release})` : `${ref.name} ${ref.version} (configured)`;
}

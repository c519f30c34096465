/**
 * What the pipeline keeps across a restart, in one place: the reading mark (the last reading the
 * feature windows took, and how many rows came at its time or, with no usable time, after it), the last
 * machine event committed, and the snapshots that go into the pipeline's commits: the feature-window
 * tail with the active model's alert state (features/window-tail.ts), the drift counts
 * (quality/drift-state.ts), and the metric and shadow comparison windows with the candidate's alert state
 * (metrics/open-windows.ts). Each is restored once, before the first reading, event or the finish, and
 * only where the source resumed at exactly its mark.
 */
import type { Logger } from 'pino';
import { sameModelRef } from '@pdm/protocol';
import type { AssetReader } from './features/asset-reader.js';
import type { Mark, WindowTailKeeper } from './features/window-tail.js';
import type { ScoringSet } from './inference/slots.js';
import type { MetricWindows } from './metrics/metric-windows.js';
import type { OpenWindowsKeeper, ShadowState } from './metrics/open-windows.js';
import type { RecordDraft, StateWrite } from './outbox/outbox.js';
import type { QualityTap } from './quality/tap.js';
import { ShadowComparison } from './shadow/comparison.js';

export interface RestartStateDeps {
  /** For the records of comparison windows of models that no longer run (restoreWindows). */
  readonly assetId: string;
  readonly windowMs: number;
  /** A comparison window whose record its builder refused (comparison.ts takeClosed). */
  readonly refused: (err: unknown) => void;
  readonly tail?: WindowTailKeeper;
  readonly openWindows?: OpenWindowsKeeper;
  readonly quality?: QualityTap;
  readonly log: Logger;
}

/** The pipeline's parts that the snapshots read and a restore rebuilds, as they are now. */
export interface PipelineView {
  readonly set: ScoringSet;
  readonly reader: AssetReader;
  readonly windows: MetricWindows;
  readonly comparison: ShadowComparison | undefined;
  /** No row waits for inference: everything the readings through the mark made is committed or in this commit. */
  readonly settled: boolean;
}

/** The states of one commit; `tail` and `drift` say whether the feature-window and drift snapshots are among them. */
export interface CommitStates {
  readonly states: StateWrite[];
  readonly tail: boolean;
  readonly drift: boolean;
}

const NONE: CommitStates = { states: [], tail: false, drift: false };

export class RestartState {
  /** The reading mark, changed in place per reading. */
  private mark: { time: number; count: number } | undefined;
  /** The last machine event committed, for a snapshot: a restart does not send it again. */
  private lastEvent: Mark | undefined;
  /** True once the windows, the events or the alert state moved past the last snapshot stored. */
  private changed = false;
  private done = false;

  constructor(private readonly deps: RestartStateDeps) {}

  /** True once `restore` ran. */
  get restored(): boolean {
    return this.done;
  }

  /**
   * The windows, alert states and marks from the last snapshots, once, before the first reading or event.
   * Returns the records of stored comparison windows of a model pair that no longer runs, to commit now
   * (as a model switch publishes its comparison windows).
   */
  restore(view: PipelineView): RecordDraft[] {
    if (this.done) return [];
    this.done = true;
    const orphans = this.restoreWindows(view);
    const active = view.set.active;
    const restored = this.deps.tail?.restore(active.model.card.featureSpec, active.model.ref);
    if (restored === undefined) return orphans;
    if (restored.values !== undefined) view.reader.restore(restored.values);
    if (restored.alerts !== undefined) active.alerts.restore(restored.alerts);
    this.mark = { ...restored.readings };
    this.lastEvent = restored.events;
    return orphans;
  }

  tookReading(time: number): void {
    const mark = this.mark;
    if (mark === undefined) this.mark = { time, count: 1 };
    else if (mark.time === time) mark.count++;
    else {
      mark.time = time;
      mark.count = 1;
    }
    this.changed = true;
  }

  /**
   * A reading with no usable time: counted in the mark (after the readings at its time), so that a replay
   * resuming at the mark skips it as delivered, as the windows that counted it are (replay-csv.ts).
   * Before any reading there is no mark: a replay then starts from the first row.
   */
  tookUntimed(): void {
    if (this.mark === undefined) return;
    this.mark.count++;
    this.changed = true;
  }

  /** A machine event about to be committed: the snapshot in its commit holds it. */
  tookEvent(time: number): void {
    this.lastEvent = { time, count: this.lastEvent?.time === time ? this.lastEvent.count + 1 : 1 };
    this.changed = true;
  }

  /** Something a snapshot holds changed without a reading (a model switch): the next commit carries them. */
  touched(): void {
    this.changed = true;
  }

  /** A copy of the reading mark, for a snapshot or the resume position to keep. */
  readingMark(): Mark | undefined {
    return this.mark === undefined ? undefined : { time: this.mark.time, count: this.mark.count };
  }

  /**
   * The states to commit with `drafts`: the drift counts when they changed; when the commit makes
   * everything the readings through the mark did durable (`settled`) and they changed since the last
   * stored snapshot, the feature-window tail, with the drift counts as they stand (a stored resume point
   * never runs past rows the stored counts miss); and the open windows with the tail (both describe the
   * readings through the mark) and with the records of windows they no longer hold. With no drafts only
   * changed drift goes, or at a `stop` everything that changed.
   */
  states(view: PipelineView, drafts: readonly RecordDraft[], stop: boolean): CommitStates {
    const quality = this.deps.quality;
    const driftChanged = quality?.driftChanged() === true;
    if (drafts.length === 0 && !driftChanged && !stop) return NONE;
    const mark = this.readingMark();
    const tail = mark !== undefined && this.changed && view.settled ? this.tailState(view, mark) : undefined;
    const drift = driftChanged || tail !== undefined ? quality?.driftSnapshot(mark) : undefined;
    const windowsTaken = tail !== undefined || drafts.some((d) => d.kind === 'metrics' || d.kind === 'comparisons');
    const open = windowsTaken && view.settled && mark !== undefined ? this.windowsState(view, mark) : undefined;
    return { states: [tail, drift, open].filter((st) => st !== undefined), tail: tail !== undefined, drift: drift !== undefined };
  }

  /** The states of a commit were stored: the tail and drift among them no longer count as changed. */
  stored(committed: CommitStates): void {
    if (committed.tail) this.changed = false;
    if (committed.drift) this.deps.quality?.driftStored();
  }

  private tailState(view: PipelineView, mark: Mark): StateWrite | undefined {
    const { model, alerts } = view.set.active;
    return this.deps.tail?.snapshot(model.card.featureSpec, { readings: mark, events: this.lastEvent, model: model.ref, alerts: alerts.state() }, view.reader);
  }

  /** The windows not published yet and the candidate's alert state, for a snapshot at `mark`. */
  private windowsState(view: PipelineView, mark: Mark): StateWrite | undefined {
    const { set, comparison } = view;
    const shadow: ShadowState | undefined = set.shadow === undefined || comparison === undefined ? undefined : {
      active: set.active.model.ref, candidate: set.shadow.model.ref, deploymentId: set.shadow.deployment?.deploymentId,
      spec: set.active.model.card.featureSpec, alerts: set.shadow.alerts.state(), windows: comparison.state(),
    };
    return this.deps.openWindows?.snapshot(mark, { metrics: view.windows.state(), shadow });
  }

  /**
   * The metric and comparison windows from the last snapshot (metrics/open-windows.ts); the records of
   * comparison windows of another model pair or deployment (or of a candidate that no longer runs).
   */
  private restoreWindows(view: PipelineView): RecordDraft[] {
    const restored = this.deps.openWindows?.restore();
    if (restored === undefined) return [];
    view.windows.restore(restored.metrics);
    const stored = restored.shadow;
    if (stored === undefined) return [];
    const { active, shadow } = view.set;
    // windows of another deployment of the same pair are that deployment's: published with its id, not taken over
    const samePair = shadow !== undefined && sameModelRef(stored.active, active.model.ref) && sameModelRef(stored.candidate, shadow.model.ref);
    if (samePair && view.comparison !== undefined && stored.deploymentId === shadow.deployment?.deploymentId) {
      view.comparison.restore(stored.windows);
      shadow.alerts.restore(stored.alerts);
      return [];
    }
    if (stored.windows.length === 0) return [];
    this.deps.log.info({ stored: { active: stored.active, candidate: stored.candidate, deploymentId: stored.deploymentId }, windows: stored.windows.length }, 'comparison windows of other models published');
    const { assetId, windowMs, refused } = this.deps;
    const closed = new ShadowComparison({
      windowMs, assetId, active: stored.active, candidate: stored.candidate, spec: stored.spec,
      ...(stored.deploymentId === undefined ? {} : { deploymentId: stored.deploymentId }),
    });
    closed.restore(stored.windows);
    return closed.closeAll(refused);
  }
}

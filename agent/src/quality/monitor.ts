/**
 * Model quality and drift on the device, per model version and role (active and shadow apart): the
 * pipeline hands over every prediction batch it commits with the feature rows behind it, every failure
 * it learns of (replay events, and events people entered at the controller), and the event time it has
 * reached; the monitor returns `quality` and `drift` records when their windows are final.
 *
 * Event time is the only clock here: during a replay, 2015 data matures on 2015 time however fast the
 * replay runs. `takeDue` must be called only when no row read so far still waits for inference, so a
 * window is never closed before all of its predictions arrived.
 *
 * With a journal (journal.ts) the state that waits for maturity is durable: `start` rebuilds it from
 * the records the outbox committed, in commit order, so a restart (a crash, SIGKILL or a stop) counts
 * the same windows an uninterrupted run would. A stop before the end of input then publishes nothing
 * half-matured; only the end of input closes every window (`closeAll`) and clears the journal.
 *
 * With a drift keeper (drift-state.ts) the drift windows are durable too: the rows of a prediction batch
 * are counted before its commit (`stage`), so that the snapshot of the counts goes into the same
 * transaction, and undone when that commit fails (`scored` with no drafts); the records of closed
 * windows go with the snapshot that no longer holds them (`driftChanged`, then `driftSnapshot`), and
 * every commit of the feature-window tail takes one too. A stop before the end of input
 * keeps the windows of the models that run pending in the snapshot; a window the agent cannot finish
 * (of a model it no longer runs) is published at the stop, and the end of input publishes them all.
 */
import type { Logger } from 'pino';
import { sameModelRef, type ModelCard, type ModelRef, type ModelRole } from '@pdm/protocol';
import type { Mark } from '../features/window-tail.js';
import type { ScoringSet } from '../inference/slots.js';
import type { RecordDraft, StateWrite } from '../outbox/outbox.js';
import type { SourceEvent } from '../sources/source.js';
import type { QualityConfig } from './config.js';
import { trackerKey as keyOf, type DriftKeeper } from './drift-state.js';
import { DriftWindows, driftReferences, type DriftCheckpoint } from './drift-windows.js';
// RECENT_FAILURES: failures remembered to seed the trackers of models that start later (a failure entered ahead of time)
import { RECENT_FAILURES, type JournalEntry, type PruneScope } from './journal.js';
import { QualityWindows } from './quality-windows.js';
import type { QualityTap, ScoredRow } from './tap.js';
import { driftDraft, qualityDraft } from './window-records.js';

/** The durable side of the monitor (journal.ts QualityJournal). */
export interface QualityStore {
  read(): JournalEntry[];
  prune(scope: PruneScope): void;
  clear(): void;
}

export interface QualityMonitorDeps {
  readonly config: QualityConfig;
  readonly assetId: string;
  readonly log: Logger;
  /** Keeps the pending state across restarts; without it a restart loses what had not matured. */
  readonly store?: QualityStore;
  /** Whether the source has ended (not merely stopped): only then `closeAll` counts half-matured windows. */
  readonly inputEnded?: () => boolean;
  /** Keeps the drift windows across restarts; without it a stop publishes them short and a kill loses them. */
  readonly drift?: DriftKeeper;
}

/** Rows counted into drift windows ahead of their commit: how to undo them. */
interface Staged {
  readonly checkpoints: Map<Tracked, DriftCheckpoint>;
  /** The prediction times of each batch, parsed once for both calls. */
  readonly times: Map<PredictionBatch, number[]>;
}

type PredictionBatch = Extract<RecordDraft, { kind: 'predictions' }>['record'];

interface Tracked {
  readonly model: ModelRef;
  readonly role: ModelRole;
  readonly horizonHours: number | undefined;
  readonly quality: QualityWindows | undefined;
  drift: DriftWindows | undefined;
  /** Rebuilt from the journal, which holds no card: drift starts when the model first scores. */
  rebuilt: boolean;
  /** Dropped predictions already logged. */
  droppedLogged: number;
}

const HOUR = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();
const liveKeys = (set: ScoringSet): Set<string> =>
  new Set([keyOf(set.active.model.ref, 'active'), ...(set.shadow === undefined ? [] : [keyOf(set.shadow.model.ref, 'shadow')])]);
/** The same failure from the source and from the journal gives the same key. */
const failureKey = (source: string, at: number, component: string | undefined): string => `${source}|${at}|${component ?? ''}`;

/** A row's score by the model of `role` (ScoredRow.scores), so that a row without its prediction is passed by. */
const scoreOf = (role: ModelRole) => (row: ScoredRow): number | undefined => (role === 'active' ? row.scores?.active : row.scores?.shadow);

export class QualityMonitor implements QualityTap {
  private now = Number.NEGATIVE_INFINITY;
  private readonly trackers = new Map<string, Tracked>();
  private readonly seenFailures = new Set<string>();
  private recentFailures: number[] = [];
  /** The models the pipeline runs now (`running`), and their tracker keys; others are dropped once they have published everything. */
  private set: ScoringSet | undefined;
  private live = new Set<string>();
  /** A window was published or a prediction dropped since the journal was last pruned. */
  private prunable = false;
  /**
   * Predictions committed since the last prune: the journal copies every batch, also those of models
   * that publish no quality windows (no horizon), so it is pruned after a tenth of the cap of them too.
   */
  private journaledSincePrune = 0;
  /** Drop marks read from the journal, for trackers not rebuilt yet (`restore`). */
  private readonly restoredDrops = new Map<string, number>();
  private staged: Staged | undefined;
  /** The drift counts changed since the last snapshot stored (`driftStored`; stage, takeDue, closeAll set it). */
  private pendingDrift = false;
  /** Stored drift windows of models that do not run were let go (at the first batch). */
  private unclaimedForgotten = false;

  constructor(private readonly deps: QualityMonitorDeps) {}

  /** Rebuilds the pending state from the journal (commit order: predictions, failures, published windows). */
  start(): void {
    const { store, config, log } = this.deps;
    if (store === undefined || !config.enabled) return;
    const entries = store.read();
    for (const e of entries) this.restore(e);
    this.restoredDrops.clear();
    const pending = [...this.trackers.values()].reduce((n, t) => n + (t.quality?.pending ?? 0), 0);
    log.info({ entries: entries.length, trackers: this.trackers.size, pending, failures: this.recentFailures.length }, 'quality state restored');
  }

  stop(): void {}

  /** What is left to do once the pipeline's last records are committed: the end of input clears the journal. */
  finished(): void {
    if (this.deps.store === undefined || !this.ended()) return;
    this.guard('clear', () => this.deps.store!.clear());
  }

  advance(time: number): void {
    if (time > this.now) this.now = time;
  }

  running(set: ScoringSet): void {
    const live = liveKeys(set);
    // the stored windows of a model switched from before it scored again go the way of a model that no
    // longer runs (published when they close), as in an uninterrupted run, instead of being let go
    if (this.set !== undefined) this.claimStored(this.set, (key) => !live.has(key));
    this.set = set;
    this.live = live;
  }

  /** Starts the trackers of `set`'s scorers (those `which` takes) that have stored drift windows: they take them back now. */
  private claimStored(set: ScoringSet, which: (key: string) => boolean = () => true): void {
    const keeper = this.deps.drift;
    if (keeper === undefined || !this.deps.config.enabled) return;
    const stored = keeper.storedKeys();
    for (const [scorer, role] of [[set.active, 'active'], [set.shadow, 'shadow']] as const) {
      if (scorer === undefined) continue;
      const key = keyOf(scorer.model.ref, role);
      if (stored.has(key) && which(key)) this.tracker(scorer.model.ref, role, scorer.model.card, this.now);
    }
  }

  stage(set: ScoringSet, rows: readonly ScoredRow[], drafts: readonly RecordDraft[]): void {
    const keeper = this.deps.drift;
    if (keeper === undefined || !this.deps.config.enabled) return;
    if (!this.unclaimedForgotten) {
      this.unclaimedForgotten = true;
      keeper.forgetUnclaimed(this.live);
    }
    const staged: Staged = { checkpoints: new Map(), times: new Map() };
    this.staged = staged;
    for (const { tracked, record } of this.batchesOf(set, drafts)) {
      const drift = tracked.drift;
      if (drift === undefined) continue;
      if (!staged.checkpoints.has(tracked)) staged.checkpoints.set(tracked, drift.checkpoint());
      const times = record.predictions.map((p) => Date.parse(p.t));
      staged.times.set(record, times);
      drift.addScored(times, record.predictions, rows, scoreOf(record.role));
    }
    if (staged.checkpoints.size > 0) this.pendingDrift = true;
  }

  scored(set: ScoringSet, rows: readonly ScoredRow[], drafts: readonly RecordDraft[]): void {
    if (!this.deps.config.enabled) return;
    const staged = this.staged;
    this.staged = undefined;
    if (staged !== undefined && drafts.length === 0) {
      // the commit failed: its predictions count nowhere, as without a stage
      for (const [t, cp] of staged.checkpoints) t.drift!.rollback(cp);
    }
    for (const draft of drafts) if (draft.kind === 'predictions') this.journaledSincePrune += draft.record.predictions.length;
    for (const { tracked, record } of this.batchesOf(set, drafts)) {
      const times = staged?.times.get(record) ?? record.predictions.map((p) => Date.parse(p.t));
      record.predictions.forEach((p, i) => tracked.quality?.predicted(times[i]!, p.alert));
      // with a stage, its drift was counted there
      if (staged === undefined && tracked.drift !== undefined) tracked.drift.addScored(times, record.predictions, rows, scoreOf(record.role));
    }
  }

  /** The prediction batches of the models that run in `set`, each with its tracker (started by its first batch). */
  private *batchesOf(set: ScoringSet, drafts: readonly RecordDraft[]): Generator<{ tracked: Tracked; record: PredictionBatch }> {
    for (const draft of drafts) {
      if (draft.kind !== 'predictions') continue;
      const { model, role } = draft.record;
      const scorer = role === 'active' ? set.active : set.shadow;
      if (scorer === undefined || !sameModelRef(scorer.model.ref, model)) continue;
      yield { tracked: this.tracker(model, role, scorer.model.card, Date.parse(draft.record.predictions[0]!.t)), record: draft.record };
    }
  }

  event(event: SourceEvent): void {
    if (event.type !== 'failure') return;
    this.failure(event.time, failureKey(event.source, event.time, event.component));
  }

  /** A failure at event time `at`; `key` makes a repeat of the same failure count once. */
  failure(at: number, key: string): void {
    if (this.seenFailures.has(key)) return;
    this.seenFailures.add(key);
    if (this.seenFailures.size > 10 * RECENT_FAILURES) this.seenFailures.delete(this.seenFailures.values().next().value!);
    this.recentFailures.push(at);
    if (this.recentFailures.length > RECENT_FAILURES) this.recentFailures.shift();
    for (const t of this.trackers.values()) {
      if (t.quality?.failure(at) === false) {
        this.deps.log.warn({ model: t.model, role: t.role, at: iso(at) }, 'failure arrived after its quality window was published');
      }
    }
  }

  takeDue(): RecordDraft[] {
    // prunes by what earlier calls published, which the pipeline has committed since; drops are saved
    // with the prune of the call that logs them, so a restart neither counts them again nor loses them
    const dropped = [...this.trackers.values()].some((t) => (t.quality?.droppedPredictions ?? 0) !== t.droppedLogged);
    if (dropped || this.prunable || this.journaledSincePrune >= this.deps.config.maxPendingPredictions / 10) this.prune();
    const drafts: RecordDraft[] = [];
    let driftTaken = false;
    for (const [key, t] of this.trackers) {
      const quality = (t.quality?.takeDue(this.now) ?? []).map((f) => qualityDraft(this.deps.assetId, t, f));
      const drift = (t.drift?.takeClosed(this.now) ?? []).map((f) => driftDraft(this.deps.assetId, t, f));
      drafts.push(...quality, ...drift);
      if (drift.length > 0) driftTaken = true;
      if (this.logDrops(t) || quality.length > 0) this.prunable = true;
      if (!this.live.has(key) && (t.quality?.idle ?? true) && (t.drift?.idle ?? true)) this.trackers.delete(key);
    }
    if (driftTaken) this.pendingDrift = true;
    return drafts;
  }

  /** End of input: what has matured so far. A stop before the end keeps the quality windows pending in the journal. */
  closeAll(): RecordDraft[] {
    const keep = this.deps.store !== undefined && !this.ended();
    // a stop keeps the drift windows of the models that run in the snapshot; others can no longer be finished
    const keeper = this.deps.drift;
    const keepDrift = keeper !== undefined && !this.ended();
    // a model that runs but has not scored since the start takes its stored windows now: the end of
    // input publishes them, a stop keeps them, as an uninterrupted run would
    if (this.set !== undefined) this.claimStored(this.set);
    const drafts: RecordDraft[] = [];
    const trackers = this.trackers.size;
    let kept = 0;
    let published = 0;
    for (const [key, t] of this.trackers) {
      if (!keep) drafts.push(...(t.quality?.closeAll(this.now) ?? []).map((f) => qualityDraft(this.deps.assetId, t, f)));
      if (keepDrift && this.live.has(key)) kept += t.drift?.windows().length ?? 0;
      else for (const f of t.drift?.closeAll() ?? []) drafts.push(driftDraft(this.deps.assetId, t, f)), published++;
      // what stays is only what later snapshots (driftSnapshot, the last tail's) must still hold
      if (t.drift === undefined || t.drift.windows().length === 0) this.trackers.delete(key);
    }
    // stored windows of a model that no longer runs, or at the end of input, can no longer be counted on
    keeper?.forgetUnclaimed(keepDrift ? this.live : new Set());
    if (keep) this.deps.log.info({ trackers }, 'quality windows kept pending for the next start');
    if (kept > 0) this.deps.log.info({ windows: kept }, 'drift windows kept pending for the next start');
    // the end of input empties the snapshot: its windows were all published now
    if (published > 0 || !keepDrift) this.pendingDrift = true;
    return drafts;
  }

  driftChanged(): boolean {
    return this.pendingDrift;
  }

  driftSnapshot(mark: Mark | undefined): StateWrite | undefined {
    const keeper = this.deps.drift;
    if (keeper === undefined || !this.deps.config.enabled) return undefined;
    return keeper.snapshot(mark, this.trackers.values());
  }

  /** The last `driftSnapshot` was stored: until then (a full disk leaves it out) the counts stay changed. */
  driftStored(): void {
    this.pendingDrift = false;
  }

  private ended(): boolean {
    return this.deps.inputEnded?.() ?? true;
  }

  private restore(e: JournalEntry): void {
    if (e.kind === 'dropped') {
      this.restoredDrops.set(e.key, e.through);
      return;
    }
    if (e.kind === 'events') {
      const at = Date.parse(e.record.at);
      if (e.record.type === 'failure') this.failure(at, failureKey(e.record.source, at, e.record.component));
      return;
    }
    const { model, role, horizonHours } = e.record;
    if (horizonHours === undefined) return;
    const first = e.kind === 'predictions' ? Date.parse(e.record.predictions[0]!.t) : Date.parse(e.record.windowEnd);
    const key = keyOf(model, role);
    const tracked = this.trackers.get(key) ?? this.track(model, role, horizonHours, undefined, first, true);
    const dropped = this.restoredDrops.get(key);
    if (dropped !== undefined) {
      tracked.quality?.markDropped(dropped);
      this.restoredDrops.delete(key);
    }
    if (e.kind === 'quality') tracked.quality?.markPublished(Date.parse(e.record.windowEnd));
    else for (const p of e.record.predictions) tracked.quality?.predicted(Date.parse(p.t), p.alert);
  }

  private tracker(model: ModelRef, role: ModelRole, card: ModelCard, firstTime: number): Tracked {
    const existing = this.trackers.get(keyOf(model, role));
    if (existing?.rebuilt === true) {
      existing.drift = this.driftFor(model, role, card);
      existing.rebuilt = false;
    }
    if (existing !== undefined) return existing;
    const spec = card.featureSpec;
    const horizonHours = spec.task === 'failure-within-horizon' ? spec.horizonHours : undefined;
    return this.track(model, role, horizonHours, this.driftFor(model, role, card), firstTime);
  }

  private track(
    model: ModelRef, role: ModelRole, horizonHours: number | undefined, drift: DriftWindows | undefined, firstTime: number, rebuilt = false,
  ): Tracked {
    const { config } = this.deps;
    const tracked: Tracked = {
      model: { name: model.name, version: model.version },
      role,
      horizonHours,
      quality: horizonHours === undefined ? undefined : new QualityWindows({
        windowMs: config.windowSeconds * 1000, horizonMs: horizonHours * HOUR, graceMs: config.labelGraceHours * HOUR,
        maxPending: config.maxPendingPredictions,
      }),
      drift,
      rebuilt,
      droppedLogged: 0,
    };
    for (const f of this.recentFailures) if (f > firstTime) tracked.quality?.failure(f);
    this.trackers.set(keyOf(model, role), tracked);
    this.deps.log.info({ model: tracked.model, role, quality: tracked.quality !== undefined, drift: drift !== undefined }, 'quality tracking started');
    return tracked;
  }

  /** The drift windows of a tracker: the stored ones when the keeper has them for the same model, role and bins. */
  private driftFor(model: ModelRef, role: ModelRole, card: ModelCard): DriftWindows | undefined {
    const refs = driftReferences(card);
    if (refs.length === 0) return undefined;
    const drift = new DriftWindows(this.deps.config.driftWindowSeconds * 1000, refs);
    const restored = this.deps.drift?.restore(model, role, drift);
    if (restored !== undefined) drift.restore(restored);
    return drift;
  }

  /** Logs predictions the cap dropped since the last call; true when there were some. */
  private logDrops(t: Tracked): boolean {
    const total = t.quality?.droppedPredictions ?? 0;
    if (total === t.droppedLogged) return false;
    this.deps.log.warn(
      { model: t.model, role: t.role, dropped: total - t.droppedLogged, total, maxPendingPredictions: this.deps.config.maxPendingPredictions },
      'pending predictions over the cap dropped',
    );
    t.droppedLogged = total;
    return true;
  }

  private prune(): void {
    const store = this.deps.store;
    this.prunable = false;
    this.journaledSincePrune = 0;
    if (store === undefined) return;
    const droppedThrough: Record<string, number> = {};
    for (const [key, t] of this.trackers) {
      const through = t.quality?.droppedThrough ?? Number.NEGATIVE_INFINITY;
      if (through > Number.NEGATIVE_INFINITY) droppedThrough[key] = through;
    }
    this.guard('prune', () => store.prune({ keys: [...this.trackers.keys()], droppedThrough }));
  }

  /** The journal only saves recounting after a restart: a failure of it must not stop the data path. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.log.error({ err, what }, 'quality journal failed');
    }
  }
}

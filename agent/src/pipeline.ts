/**
 * The agent's data path, as the sink of a sensor source: raw reading -> checked reading -> feature row
 * -> batched inference -> prediction batch + alerts, with machine events and metric windows, all
 * committed to the outbox in event-time order. Rows are batched while the source runs ahead of real
 * time and flushed whenever it is about to wait (`idle`), so a paced replay still scores each reading
 * as it arrives. A bad reading or a failed run is counted and logged; the loop never stops on one.
 *
 * The models come from a `ScoringSource` and may change while it runs (signed updates): a new
 * generation is adopted before the next reading, after the buffered rows were scored by the models
 * they were read for. A shadow candidate scores the same rows after the active model (shadow/).
 */
import type { Logger } from 'pino';
import type { ReadingRejectReason } from '@pdm/protocol';
import type { ActionSink } from './actions/http-action.js';
import { AssetReader } from './features/asset-reader.js';
import type { Mark, WindowTailKeeper } from './features/window-tail.js';
import { activeRecords, type ActiveRecords } from './inference/active-records.js';
import { RowBatch } from './inference/row-batch.js';
import type { InferenceObserver } from './inference/observer.js';
import { sameRows, type Scorer, type ScoringSet, type ScoringSource } from './inference/slots.js';
import type { Counters } from './metrics/counters.js';
import { IsoTime } from './metrics/iso-time.js';
import type { MetricWindows } from './metrics/metric-windows.js';
import type { OpenWindowsKeeper } from './metrics/open-windows.js';
import type { Outbox, OutboxEntry, RecordDraft } from './outbox/outbox.js';
import { RestartState, type CommitStates, type PipelineView } from './restart-state.js';
import type { QualityTap } from './quality/tap.js';
import { ShadowRunner, type ActiveRow } from './shadow/shadow-runner.js';
import type { RawReading, SourceEvent, SourceSink } from './sources/source.js';

export interface PipelineDeps {
  readonly config: {
    readonly assetId: string;
    readonly maxBatchRows: number;
    /** Length of a shadow comparison window (the metric window), in event-time ms. */
    readonly windowMs: number;
  };
  readonly scoring: ScoringSource;
  readonly windows: MetricWindows;
  readonly counters: Counters;
  readonly outbox: Outbox;
  readonly log: Logger;
  /** Told about every run (the trial of a new model watches it). */
  readonly observer?: InferenceObserver;
  /** Starts the action of alerts raised by a model deployed in `act` mode. */
  readonly actions?: ActionSink;
  /** Model quality and drift (quality/): told about predictions, failures and event time. */
  readonly quality?: QualityTap;
  /**
   * Told the event time of the last reading (and how many readings at that time) once nothing of it or
   * before it waits to be committed (a replay resumes after it). Not told again after a failed commit:
   * those rows may be worth replaying.
   */
  readonly committedThrough?: (through: Mark) => void;
  /**
   * Keeps the feature windows across a restart (features/window-tail.ts): every commit carries their
   * snapshot, and they are rebuilt from the last one before the first reading.
   */
  readonly tail?: WindowTailKeeper;
  /**
   * Keeps the metric and shadow comparison windows (and the candidate's alert state) across a restart
   * (metrics/open-windows.ts): with the tail in every commit of it; a stop then keeps them open.
   */
  readonly openWindows?: OpenWindowsKeeper;
}

export class Pipeline implements SourceSink {
  /** Rows read and not yet scored. */
  private batch: RowBatch;
  /** A scored batch, kept for reuse so that batches cost no allocation. */
  private spare: RowBatch | undefined;
  private readonly warnedReasons = new Set<ReadingRejectReason>();
  private set: ScoringSet;
  private reader: AssetReader;
  private shadow: ShadowRunner | undefined;
  /** The reading mark and the snapshots that go into commits (restart-state.ts). */
  private readonly restart: RestartState;
  private commitFailed = false;
  private readonly iso = new IsoTime();
  /** A metric window whose record its builder refused: lost alone, counted and logged like a failed commit. */
  private readonly windowRefused = (err: unknown): void => this.commitFailedWith(err, 1, ['metrics']);
  private readonly comparisonRefused = (err: unknown): void => this.commitFailedWith(err, 1, ['comparisons']);

  constructor(private readonly deps: PipelineDeps) {
    this.set = deps.scoring.current();
    deps.quality?.running(this.set);
    this.reader = new AssetReader(this.set.active.model.card.featureSpec);
    this.batch = new RowBatch(this.reader.width, deps.config.maxBatchRows);
    this.shadow = this.shadowRunnerFor(this.set);
    this.restart = new RestartState({
      assetId: deps.config.assetId, windowMs: deps.config.windowMs, refused: this.comparisonRefused,
      tail: deps.tail, openWindows: deps.openWindows, quality: deps.quality, log: deps.log,
    });
  }

  async reading(reading: RawReading): Promise<void> {
    // checked here, so a reading costs no second promise while the models stay the same (almost always)
    if (this.deps.scoring.current().generation !== this.set.generation) await this.adoptNewModels();
    // after the models that run now were adopted: the snapshot must be of their spec
    if (!this.restart.restored) this.restore();
    const { counters, windows } = this.deps;
    counters.readings++;
    if (reading.timeProblem === undefined) {
      windows.advance(reading.time);
      this.deps.quality?.advance(reading.time);
    }
    // a closed window's record waits until none of its rows is still buffered for inference
    if (this.batch.size === 0) {
      this.commit(windows.takeClosed(this.windowRefused));
      this.commitQuality();
    }
    windows.reading();
    const batch = this.batch;
    const result = this.reader.acceptInto(reading, batch.data, batch.nextOffset);
    if (reading.timeProblem === undefined) this.restart.tookReading(reading.time);
    else this.restart.tookUntimed();
    if (!result.ok) this.rejected(result.reason, result.signal);
    else if (result.wrote) {
      batch.added(reading.time);
      if (batch.full) await this.flush();
    }
    this.reportCommitted();
  }

  async event(event: SourceEvent): Promise<void> {
    await this.flush();
    // an event can come before the first reading: its commit must carry the restored state too
    if (!this.restart.restored) this.restore();
    const at = this.iso.format(event.time);
    // goes into the event's own commit: a kill right after it must not send it again
    this.restart.tookEvent(event.time);
    const committed = this.commit([
      {
        kind: 'events',
        record: {
          time: at,
          assetId: this.deps.config.assetId,
          type: event.type,
          at,
          source: event.source,
          ...(event.component === undefined ? {} : { component: event.component }),
        },
      },
    ]);
    if (committed !== undefined) this.deps.counters.events++;
    this.deps.quality?.event(event);
  }

  async idle(): Promise<void> {
    await this.flush();
    this.reportCommitted();
  }

  /**
   * End of input (`ended`) or a stop: scores what is buffered; the end of input closes the last metric and
   * comparison windows, a stop keeps them open in the snapshot (`openWindows`; without it, closes them too).
   */
  async finish(ended: boolean): Promise<void> {
    await this.flush();
    // a restart with nothing left to replay (killed or stopped right after the last row) sends no reading
    // or event: the windows it closes (or keeps) are the restored ones, of the models that run now
    if (!this.restart.restored) {
      await this.adoptNewModels();
      this.restore();
    }
    if (ended || this.deps.openWindows === undefined) {
      this.commit([...this.deps.windows.closeAll(this.windowRefused), ...(this.shadow?.comparison.closeAll(this.comparisonRefused) ?? [])]);
    }
    const quality = this.deps.quality;
    // at a stop the drift windows of the models that run stay pending (quality/monitor.ts closeAll)
    // the readings since the last commit (ones that made no row) go into the snapshots too
    this.commit(quality?.closeAll() ?? [], true);
    this.reportCommitted();
  }

  /** Takes back the snapshots; comparison windows of models that no longer run are published at once. */
  private restore(): void {
    const orphans = this.restart.restore(this.view());
    // its snapshot no longer holds them: published and dropped in one transaction
    if (orphans.length > 0) this.commit(orphans);
  }

  /** What the snapshots read and a restore rebuilds, as it is now (restart-state.ts). */
  private view(): PipelineView {
    return { set: this.set, reader: this.reader, windows: this.deps.windows, comparison: this.shadow?.comparison, settled: this.batch.size === 0 };
  }

  private reportCommitted(): void {
    const mark = this.restart.readingMark();
    if (this.batch.size > 0 || mark === undefined || this.commitFailed) return;
    this.deps.committedThrough?.(mark);
  }

  /**
   * Moves to the newest models between batches: rows already buffered are scored by the models they
   * were read for; a model whose spec makes other rows starts from empty feature windows.
   */
  private async adoptNewModels(): Promise<void> {
    const next = this.deps.scoring.current();
    if (next.generation === this.set.generation) return;
    await this.flush();
    // the snapshot in this commit no longer holds the comparison windows it publishes
    this.restart.touched();
    this.commit(this.shadow?.comparison.closeAll(this.comparisonRefused) ?? []);
    const before = this.set.active.model.card.featureSpec;
    const after = next.active.model.card.featureSpec;
    if (!sameRows(before, after)) {
      this.reader = new AssetReader(after);
      this.batch = new RowBatch(this.reader.width, this.deps.config.maxBatchRows);
      this.spare = undefined;
    }
    this.set = next;
    this.shadow = this.shadowRunnerFor(next);
    // before any of them scores: a stop now keeps only their drift windows pending
    this.deps.quality?.running(next);
    this.deps.scoring.adopted(next);
    this.deps.log.info({ active: next.active.model.ref, shadow: next.shadow?.model.ref, generation: next.generation }, 'models switched');
  }

  private shadowRunnerFor(set: ScoringSet): ShadowRunner | undefined {
    if (set.shadow === undefined) return undefined;
    const { config, observer, log } = this.deps;
    return new ShadowRunner({
      assetId: config.assetId, windowMs: config.windowMs, active: set.active, shadow: set.shadow, observer, log, refused: this.comparisonRefused,
    });
  }

  private rejected(reason: ReadingRejectReason, signal: string | undefined): void {
    this.deps.counters.reject(reason);
    this.deps.windows.rejected(reason);
    // the first of each reason is worth a warning; the rest are in the counters and at debug level
    const level = this.warnedReasons.has(reason) ? 'debug' : 'warn';
    this.warnedReasons.add(reason);
    this.deps.log[level]({ reason, signal }, 'reading rejected');
  }

  /** Scores the buffered rows and commits their prediction batches and any alerts in one transaction. */
  private async flush(): Promise<void> {
    const batch = this.batch;
    if (batch.size === 0) return;
    // readings that arrive while this batch is scored go into another one
    this.batch = this.spare ?? new RowBatch(batch.width, batch.capacity);
    this.spare = undefined;
    await this.score(batch);
    // nothing holds a view of its rows any more (the shadow run and the quality tap are done with them)
    batch.clear();
    if (batch.width === this.batch.width) this.spare = batch;
  }

  private async score(batch: RowBatch): Promise<void> {
    const { counters, windows, log, observer } = this.deps;
    const active = this.set.active;
    const times = batch.times;
    const rows = batch.size;
    let scored;
    try {
      scored = await active.runner.scoreBatch(batch.data, rows);
    } catch (err) {
      counters.inferenceErrors += rows;
      windows.inferenceErrors(times);
      log.error({ err, rows }, 'inference failed');
      observer?.failed('active', active, err);
      this.commit(windows.takeClosed(this.windowRefused));
      return;
    }
    counters.inferences += rows;
    windows.inferred(times, scored.latencyMs);
    observer?.scored('active', active, {
      rows, nonFinite: scored.scores.filter((s) => !Number.isFinite(s)).length, latencyMs: scored.latencyMs,
    });
    let drafts: RecordDraft[];
    let activeRows: ActiveRow[];
    try {
      ({ drafts, activeRows } = this.recordsFor(active, batch, scored.scores));
    } catch (err) {
      // a record its builder refused (agent-records.ts): lost like a failed commit, never thrown into the source
      this.commitFailedWith(err, 1, ['predictions']);
      return;
    }
    const { drafts: shadowDrafts, scores: shadowScores } = await this.shadowRecords(activeRows);
    const alerts = drafts.filter((d) => d.kind === 'alerts');
    for (const a of alerts) windows.alerted(Date.parse(a.record.windowEnd));
    const predicted = [...drafts, ...shadowDrafts];
    const quality = this.deps.quality;
    // with both scores: a non-finite one makes no prediction, and the monitor passes its row by
    const scoredRows = quality === undefined ? [] : times.map((time, i) => ({
      time, row: batch.row(i), scores: { active: scored.scores[i]!, shadow: shadowScores?.[i] },
    }));
    // the drift these rows add is counted first, so that its snapshot is committed with them
    quality?.stage(this.set, scoredRows, predicted);
    // predictions, alerts, the candidate's records and the windows they complete: one transaction
    const entries = this.commit([...predicted, ...windows.takeClosed(this.windowRefused)]);
    quality?.scored(this.set, scoredRows, entries === undefined ? [] : predicted);
    this.commitQuality();
    if (entries === undefined) return;
    counters.predictions += drafts[0]?.kind === 'predictions' ? drafts[0].record.predictions.length : 0;
    counters.alerts += alerts.length;
    this.startActions(entries);
  }

  /** The candidate's records of the rows; one its builder refuses costs only the candidate's records (counted, logged). */
  private async shadowRecords(rows: readonly ActiveRow[]): Promise<{ drafts: RecordDraft[]; scores: readonly number[] | undefined }> {
    if (this.shadow === undefined) return { drafts: [], scores: undefined };
    try {
      return await this.shadow.score(rows);
    } catch (err) {
      this.commitFailedWith(err, 1, ['predictions']);
      return { drafts: [], scores: undefined };
    }
  }

  /** The active model's records of the batch (inference/active-records.ts); non-finite scores counted and logged. */
  private recordsFor(scorer: Scorer, batch: RowBatch, scores: readonly number[]): ActiveRecords {
    const { counters, windows, config, actions } = this.deps;
    const out = activeRecords(scorer, batch, scores, { assetId: config.assetId, withShadow: this.shadow !== undefined, actions });
    if (out.nonFinite.length > 0) {
      counters.inferenceErrors += out.nonFinite.length;
      windows.inferenceErrors(out.nonFinite);
      this.deps.log.warn({ rows: out.nonFinite.length, model: scorer.model.ref }, 'non-finite model output not published');
    }
    return out;
  }

  /** Committed alerts marked `triggered` start their action now that they are durable. */
  private startActions(entries: readonly OutboxEntry[]): void {
    const actions = this.deps.actions;
    if (actions === undefined) return;
    for (const e of entries) {
      if (e.kind !== 'alerts') continue;
      const alert = JSON.parse(e.payload.toString('utf8')) as { action?: string };
      if (alert.action === 'triggered') actions.trigger(e.seq, e.payload);
    }
  }

  /** Quality and drift windows that became final, in a transaction of their own (they never hold up predictions). */
  private commitQuality(): void {
    const quality = this.deps.quality;
    if (quality !== undefined) this.commit(quality.takeDue());
  }

  /**
   * Commits drafts in one transaction, with the states that go with them (restart-state.ts: the
   * feature-window tail, the drift counts, the open windows); with no drafts, only states that changed, or
   * at a `stop` all of them. A failure is counted and logged, never thrown into the source. After a failed
   * commit no state is written any more: like the resume position, it stays at the last commit before,
   * whose rows are replayed.
   */
  private commit(drafts: readonly RecordDraft[], stop = false): readonly OutboxEntry[] | undefined {
    let states: CommitStates | undefined;
    try {
      states = this.commitFailed ? undefined : this.restart.states(this.view(), drafts, stop);
    } catch (err) {
      // a snapshot that cannot be built: the records still go, and the states and the resume position
      // stay at the last commit before, as after a failed commit (its rows are replayed: at least once)
      this.commitFailedWith(err, 0, ['states']);
    }
    if (drafts.length === 0 && (states === undefined || states.states.length === 0)) return undefined;
    try {
      const { entries, statesStored } = this.deps.outbox.commitWithStates(drafts, states?.states ?? []);
      // states that found no room on a full disk go with the next commit (they still count as changed)
      if (states !== undefined && statesStored) this.restart.stored(states);
      return entries;
    } catch (err) {
      this.commitFailedWith(err, drafts.length, drafts.length === 0 ? ['states'] : drafts.map((d) => d.kind));
      return undefined;
    }
  }

  private commitFailedWith(err: unknown, records: number, kinds: readonly string[]): void {
    this.commitFailed = true;
    this.deps.counters.commitFailures += records;
    this.deps.log.error({ err, kinds }, 'commit to outbox failed');
  }
}

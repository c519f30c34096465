/**
 * The agent's data path, as the sink of a sensor source: raw reading -> checked reading -> feature row
 * -> batched inference -> prediction batch + alerts, with machine events and metric windows, all
 * committed to the outbox in event-time order. Rows are batched while the source runs ahead of real
 * time and flushed whenever it is about to wait (`idle`), so a paced replay still scores each reading
 * as it arrives. A bad reading or a failed run is counted and logged; the loop never stops on one.
 */
import type { Logger } from 'pino';
import type { ReadingRejectReason } from '@pdm/protocol';
import type { AssetReader } from './features/asset-reader.js';
import type { AlertPolicy } from './inference/alerts.js';
import type { LoadedModel } from './inference/model.js';
import type { InferenceRunner } from './inference/runner.js';
import type { Counters } from './metrics/counters.js';
import type { MetricWindows } from './metrics/metric-windows.js';
import type { Outbox, RecordDraft } from './outbox/outbox.js';
import type { RawReading, SourceEvent, SourceSink } from './sources/source.js';

export interface PipelineDeps {
  readonly config: { readonly assetId: string; readonly maxBatchRows: number };
  readonly model: LoadedModel;
  readonly reader: AssetReader;
  readonly runner: InferenceRunner;
  readonly alerts: AlertPolicy;
  readonly windows: MetricWindows;
  readonly counters: Counters;
  readonly outbox: Outbox;
  readonly log: Logger;
}

interface PendingRow {
  readonly time: number;
  readonly row: Float32Array;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class Pipeline implements SourceSink {
  private batch: PendingRow[] = [];
  private readonly warnedReasons = new Set<ReadingRejectReason>();

  constructor(private readonly deps: PipelineDeps) {}

  async reading(reading: RawReading): Promise<void> {
    const { counters, windows, reader } = this.deps;
    counters.readings++;
    if (reading.timeProblem === undefined) windows.advance(reading.time);
    // a closed window's record waits until none of its rows is still buffered for inference
    if (this.batch.length === 0) this.commit(windows.takeClosed());
    windows.reading();
    const result = reader.accept(reading);
    if (!result.ok) {
      this.rejected(result.reason, result.signal);
      return;
    }
    if (result.row === undefined) return;
    this.batch.push({ time: result.time, row: result.row });
    if (this.batch.length >= this.deps.config.maxBatchRows) await this.flush();
  }

  async event(event: SourceEvent): Promise<void> {
    await this.flush();
    const at = iso(event.time);
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
    if (committed) this.deps.counters.events++;
  }

  idle(): Promise<void> {
    return this.flush();
  }

  /** End of input: scores what is buffered and closes the last metric window. */
  async finish(): Promise<void> {
    await this.flush();
    this.commit(this.deps.windows.closeAll());
  }

  private rejected(reason: ReadingRejectReason, signal: string | undefined): void {
    this.deps.counters.reject(reason);
    this.deps.windows.rejected(reason);
    // the first of each reason is worth a warning; the rest are in the counters and at debug level
    const level = this.warnedReasons.has(reason) ? 'debug' : 'warn';
    this.warnedReasons.add(reason);
    this.deps.log[level]({ reason, signal }, 'reading rejected');
  }

  /** Scores the buffered rows and commits their prediction batch and any alerts in one transaction. */
  private async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const { runner, counters, windows, log } = this.deps;
    const rows = this.batch;
    this.batch = [];
    let scored;
    const times = rows.map((r) => r.time);
    try {
      scored = await runner.score(rows.map((r) => r.row));
    } catch (err) {
      counters.inferenceErrors += rows.length;
      windows.inferenceErrors(times);
      log.error({ err, rows: rows.length }, 'inference failed');
      this.commit(windows.takeClosed());
      return;
    }
    counters.inferences += rows.length;
    windows.inferred(times, scored.latencyMs);
    const drafts = this.recordsFor(rows, scored.scores);
    const alerts = drafts.filter((d) => d.kind === 'alerts');
    for (const a of alerts) windows.alerted(Date.parse(a.record.windowEnd));
    // predictions, alerts and the windows they complete: one transaction
    if (this.commit([...drafts, ...windows.takeClosed()])) {
      counters.predictions += drafts[0]?.kind === 'predictions' ? drafts[0].record.predictions.length : 0;
      counters.alerts += alerts.length;
    }
  }

  private recordsFor(rows: readonly PendingRow[], scores: readonly number[]): RecordDraft[] {
    const { model, alerts, counters, windows, config } = this.deps;
    const spec = model.card.featureSpec;
    const predictions: { t: string; score: number; alert: boolean }[] = [];
    const alertDrafts: RecordDraft[] = [];
    const nonFinite: number[] = [];
    rows.forEach((row, i) => {
      const score = scores[i]!;
      if (!Number.isFinite(score)) {
        nonFinite.push(row.time);
        return;
      }
      const decision = alerts.observe(row.time, score);
      predictions.push({ t: iso(row.time), score, alert: decision.passed });
      if (decision.raise === undefined) return;
      alertDrafts.push({
        kind: 'alerts',
        record: {
          time: iso(row.time),
          assetId: config.assetId,
          model: model.ref,
          score,
          threshold: spec.threshold,
          severity: decision.raise.severity,
          windowEnd: iso(row.time),
          message: `score ${score.toPrecision(4)} ${spec.alertWhen === 'above' ? '>=' : '<='} threshold ${spec.threshold}`,
        },
      });
    });
    if (nonFinite.length > 0) {
      counters.inferenceErrors += nonFinite.length;
      windows.inferenceErrors(nonFinite);
      this.deps.log.warn({ rows: nonFinite.length }, 'non-finite model output not published');
    }
    if (predictions.length === 0) return alertDrafts;
    const batch: RecordDraft = {
      kind: 'predictions',
      record: {
        time: predictions[predictions.length - 1]!.t,
        assetId: config.assetId,
        model: model.ref,
        role: 'active',
        ...(spec.horizonHours === undefined ? {} : { horizonHours: spec.horizonHours }),
        threshold: spec.threshold,
        predictions,
      },
    };
    return [batch, ...alertDrafts];
  }

  /** Commits drafts in one transaction; a failure is counted and logged, never thrown into the source. */
  private commit(drafts: readonly RecordDraft[]): boolean {
    if (drafts.length === 0) return false;
    try {
      this.deps.outbox.commit(drafts);
      return true;
    } catch (err) {
      this.deps.counters.commitFailures += drafts.length;
      this.deps.log.error({ err, kinds: drafts.map((d) => d.kind) }, 'commit to outbox failed');
      return false;
    }
  }
}

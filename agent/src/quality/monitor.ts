/**
 * Model quality and drift on the device, per model version and role (active and shadow apart): the
 * pipeline hands over every prediction batch it commits with the feature rows behind it, every failure
 * it learns of (replay events, and events people entered at the controller), and the event time it has
 * reached; the monitor returns `quality` and `drift` records when their windows are final.
 *
 * Event time is the only clock here: during a replay, 2015 data matures on 2015 time however fast the
 * replay runs. `takeDue` must be called only when no row read so far still waits for inference, so a
 * window is never closed before all of its predictions arrived.
 */
import type { Logger } from 'pino';
import type { ModelCard, ModelRef, ModelRole } from '@pdm/protocol';
import type { ScoringSet } from '../inference/slots.js';
import type { RecordDraft } from '../outbox/outbox.js';
import type { SourceEvent } from '../sources/source.js';
import type { QualityConfig } from './config.js';
import { DriftWindows, driftReferences, type DriftFigures } from './drift-windows.js';
import { QualityWindows, type QualityFigures } from './quality-windows.js';

/** What the pipeline calls; see Pipeline. */
export interface QualityTap {
  /** Event time reached by the source (a reading's time). */
  advance(time: number): void;
  /** Prediction drafts about to be committed, with the rows (by event time) they were scored from. */
  scored(set: ScoringSet, rows: readonly ScoredRow[], drafts: readonly RecordDraft[]): void;
  /** A machine event from the source. */
  event(event: SourceEvent): void;
  /** Records of windows that became final; call only when no row waits for inference. */
  takeDue(): RecordDraft[];
  /** End of input: what has matured so far. */
  closeAll(): RecordDraft[];
}

export interface ScoredRow {
  readonly time: number;
  readonly row: Float32Array;
}

export interface QualityMonitorDeps {
  readonly config: QualityConfig;
  readonly assetId: string;
  readonly log: Logger;
}

interface Tracked {
  readonly model: ModelRef;
  readonly role: ModelRole;
  readonly horizonHours: number | undefined;
  readonly quality: QualityWindows | undefined;
  readonly drift: DriftWindows | undefined;
}

const HOUR = 3_600_000;
/** Failures remembered to seed the trackers of models that start later (a failure entered ahead of time). */
const RECENT_FAILURES = 1000;
const iso = (ms: number): string => new Date(ms).toISOString();
const keyOf = (model: ModelRef, role: ModelRole): string => `${model.name}\u0000${model.version}\u0000${role}`;

export class QualityMonitor implements QualityTap {
  private now = Number.NEGATIVE_INFINITY;
  private readonly trackers = new Map<string, Tracked>();
  private readonly seenFailures = new Set<string>();
  private recentFailures: number[] = [];
  /** Trackers of the models the pipeline runs now; others are dropped once they have published everything. */
  private live = new Set<string>();

  constructor(private readonly deps: QualityMonitorDeps) {}

  advance(time: number): void {
    if (time > this.now) this.now = time;
  }

  scored(set: ScoringSet, rows: readonly ScoredRow[], drafts: readonly RecordDraft[]): void {
    if (!this.deps.config.enabled) return;
    this.live = new Set([keyOf(set.active.model.ref, 'active'), ...(set.shadow === undefined ? [] : [keyOf(set.shadow.model.ref, 'shadow')])]);
    const byTime = new Map(rows.map((r) => [r.time, r.row]));
    for (const draft of drafts) {
      if (draft.kind !== 'predictions') continue;
      const { model, role } = draft.record;
      const scorer = role === 'active' ? set.active : set.shadow;
      if (scorer === undefined || scorer.model.ref.name !== model.name || scorer.model.ref.version !== model.version) continue;
      const tracked = this.tracker(model, role, scorer.model.card, Date.parse(draft.record.predictions[0]!.t));
      for (const p of draft.record.predictions) {
        const t = Date.parse(p.t);
        tracked.quality?.predicted(t, p.alert);
        const row = byTime.get(t);
        if (row !== undefined) tracked.drift?.add(t, row, p.score);
      }
    }
  }

  event(event: SourceEvent): void {
    if (event.type !== 'failure') return;
    this.failure(event.time, `${event.source}|${event.time}|${event.component ?? ''}`);
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
    const drafts: RecordDraft[] = [];
    for (const [key, t] of this.trackers) {
      drafts.push(...(t.quality?.takeDue(this.now) ?? []).map((f) => this.qualityDraft(t, f)));
      drafts.push(...(t.drift?.takeClosed(this.now) ?? []).map((f) => this.driftDraft(t, f)));
      if (!this.live.has(key) && (t.quality?.idle ?? true) && (t.drift?.idle ?? true)) this.trackers.delete(key);
    }
    return drafts;
  }

  closeAll(): RecordDraft[] {
    const drafts: RecordDraft[] = [];
    for (const t of this.trackers.values()) {
      drafts.push(...(t.quality?.closeAll(this.now) ?? []).map((f) => this.qualityDraft(t, f)));
      drafts.push(...(t.drift?.closeAll() ?? []).map((f) => this.driftDraft(t, f)));
    }
    this.trackers.clear();
    return drafts;
  }

  private tracker(model: ModelRef, role: ModelRole, card: ModelCard, firstTime: number): Tracked {
    const key = keyOf(model, role);
    const existing = this.trackers.get(key);
    if (existing !== undefined) return existing;
    const { config } = this.deps;
    const spec = card.featureSpec;
    const horizonHours = spec.task === 'failure-within-horizon' ? spec.horizonHours : undefined;
    const refs = driftReferences(card);
    const tracked: Tracked = {
      model: { name: model.name, version: model.version },
      role,
      horizonHours,
      quality: horizonHours === undefined ? undefined : new QualityWindows({
        windowMs: config.windowSeconds * 1000, horizonMs: horizonHours * HOUR, graceMs: config.labelGraceHours * HOUR,
      }),
      drift: refs.length === 0 ? undefined : new DriftWindows(config.driftWindowSeconds * 1000, refs),
    };
    for (const f of this.recentFailures) if (f > firstTime) tracked.quality?.failure(f);
    this.trackers.set(key, tracked);
    this.deps.log.info({ model: tracked.model, role, quality: tracked.quality !== undefined, drift: refs.length }, 'quality tracking started');
    return tracked;
  }

  private qualityDraft(t: Tracked, f: QualityFigures): RecordDraft {
    return {
      kind: 'quality',
      record: {
        time: iso(f.windowEnd),
        assetId: this.deps.assetId,
        model: t.model,
        role: t.role,
        windowStart: iso(f.windowStart),
        windowEnd: iso(f.windowEnd),
        horizonHours: t.horizonHours!,
        confusion: f.confusion,
        events: f.events,
      },
    };
  }

  private driftDraft(t: Tracked, f: DriftFigures): RecordDraft {
    return {
      kind: 'drift',
      record: {
        time: iso(f.windowEnd),
        assetId: this.deps.assetId,
        model: t.model,
        role: t.role,
        windowStart: iso(f.windowStart),
        windowEnd: iso(f.windowEnd),
        n: f.n,
        features: f.features,
        ...(f.score === undefined ? {} : { score: f.score }),
      },
    };
  }
}

/**
 * What the API, the dashboard, the alerts and the rollout gates read about model quality: per version
 * (and role) totals with 95% Wilson intervals, a series over time, drift, a comparison of two versions
 * on the same devices and period, and the rollout engine's quality evidence.
 *
 * Windows are in event time (the devices' data time; during a replay, the replayed period).
 */
import type { ModelRef, ModelRole } from '@pdm/protocol';
import type { QualityEvidence, QualityEvidenceProvider, QualityEvidenceRequest } from '../rollouts/quality.js';
import { driftSeries, series, totals, type DriftPoint, type QualityTotals, type SeriesPoint } from './aggregate.js';
import type { CardBaselines, CardMetrics } from './baselines.js';
import type { QualityRepo, WindowFilter } from './quality-repo.js';

export interface QualitySettings {
  /** Matured predictions a version needs before its precision and recall are judged (alerts, `sufficient`). */
  minMatured: number;
}

export interface VersionQuery {
  role?: ModelRole | undefined;
  from?: string | undefined;
  to?: string | undefined;
  deviceIds?: readonly string[] | undefined;
  /** Series buckets of this many hours (aligned to the epoch); default: the devices' own windows. */
  bucketHours?: number | undefined;
}

export interface VersionQuality {
  model: { name: string; version: string };
  filter: { role: ModelRole | null; from: string | null; to: string | null; deviceIds: readonly string[] | null };
  /** True once `totals.matured` reaches `minMatured`: before that the numbers are shown, not judged. */
  sufficient: boolean;
  minMatured: number;
  totals: QualityTotals;
  byRole: Partial<Record<ModelRole, QualityTotals>>;
  series: SeriesPoint[];
  drift: DriftPoint[];
  card: CardMetrics;
  definitions: Record<string, string>;
}

export const QUALITY_DEFINITIONS: Record<string, string> = {
  matured: 'a "failure within H" prediction made at t matures when H has passed in event time (plus the agent\'s label grace) or a failure happened in (t, t+H]; only matured predictions are counted',
  precision: 'tp / (tp + fp) over matured predictions: of the predictions that passed the threshold, the share followed by a failure within H',
  recall: 'tp / (tp + fn) over matured predictions: of the predictions followed by a failure within H, the share that passed the threshold',
  ci: '95% Wilson score interval of the proportion',
  'events.caught': 'failures with a passing prediction in [failure - H, failure); failures the version made no prediction before are not counted',
  'events.falseAlarms': 'runs of passing predictions (cut at window edges and failures) with no failure within H after them',
  'events.leadHours': 'hours from the first passing prediction in [failure - H, failure) to the failure',
  drift: 'population stability index of the scored inputs and scores against the model card\'s training reference, per device window',
};

export class QualityService implements QualityEvidenceProvider {
  readonly #repoOf: () => QualityRepo;
  readonly #cardsOf: () => CardBaselines;
  readonly #settings: QualitySettings;

  /** Repositories are taken at each call: they exist once the database is open. */
  constructor(deps: { repo: () => QualityRepo; cards: () => CardBaselines; settings: QualitySettings }) {
    this.#repoOf = deps.repo;
    this.#cardsOf = deps.cards;
    this.#settings = deps.settings;
  }

  get #repo(): QualityRepo {
    return this.#repoOf();
  }

  get #cards(): CardBaselines {
    return this.#cardsOf();
  }

  get settings(): QualitySettings {
    return this.#settings;
  }

  known(name: string, version: string): boolean {
    return this.#repo.known(name, version);
  }

  version(name: string, version: string, q: VersionQuery = {}): VersionQuality {
    const filter: WindowFilter = { model: name, version, role: q.role, from: q.from, to: q.to, deviceIds: q.deviceIds };
    const rows = this.#repo.quality(filter);
    const all = totals(rows);
    const byRole: Partial<Record<ModelRole, QualityTotals>> = {};
    for (const role of ['active', 'shadow'] as const) {
      const mine = rows.filter((r) => r.role === role);
      if (mine.length > 0) byRole[role] = totals(mine);
    }
    return {
      model: { name, version },
      filter: { role: q.role ?? null, from: q.from ?? null, to: q.to ?? null, deviceIds: q.deviceIds ?? null },
      sufficient: all.matured >= this.#settings.minMatured,
      minMatured: this.#settings.minMatured,
      totals: all,
      byRole,
      series: series(rows, q.bucketHours === undefined ? undefined : q.bucketHours * 3_600_000),
      drift: driftSeries(this.#repo.drift(filter)),
      card: this.#cards.metrics(name, version),
      definitions: QUALITY_DEFINITIONS,
    };
  }

  /**
   * Two versions on the devices that ran both, over the same period: the period given, else the time
   * both ran (shadow beside active). Versions that never ran at the same time are compared on the same
   * devices over their own periods, and the answer says so.
   */
  compare(name: string, a: string, b: string, q: { from?: string | undefined; to?: string | undefined; role?: ModelRole | undefined } = {}) {
    const base = { model: name, role: q.role, from: q.from, to: q.to };
    const rowsA = this.#repo.quality({ ...base, version: a });
    const rowsB = this.#repo.quality({ ...base, version: b });
    const devicesB = new Set(rowsB.map((r) => r.deviceId));
    const devices = [...new Set(rowsA.map((r) => r.deviceId))].filter((d) => devicesB.has(d)).sort();
    const shared = new Set(devices);
    const onShared = (rows: typeof rowsA) => rows.filter((r) => shared.has(r.deviceId));
    let period: { from: string; to: string } | null = null;
    if (q.from !== undefined && q.to !== undefined) period = { from: q.from, to: q.to };
    else {
      const ta = totals(onShared(rowsA));
      const tb = totals(onShared(rowsB));
      const from = [ta.from, tb.from].filter((v): v is string => v !== null).sort().at(-1);
      const to = [ta.to, tb.to].filter((v): v is string => v !== null).sort()[0];
      if (from !== undefined && to !== undefined && from < to) period = { from: q.from ?? from, to: q.to ?? to };
    }
    const within = (rows: typeof rowsA) => onShared(rows).filter((r) => period === null || (r.windowEnd > period.from && r.windowStart < period.to));
    const ta = totals(within(rowsA));
    const tb = totals(within(rowsB));
    const diff = (x: number | null, y: number | null) => (x === null || y === null ? null : Math.round((y - x) * 1e6) / 1e6);
    return {
      model: name,
      a: { version: a, sufficient: ta.matured >= this.#settings.minMatured, totals: ta },
      b: { version: b, sufficient: tb.matured >= this.#settings.minMatured, totals: tb },
      devices,
      period,
      note: period === null && devices.length > 0
        ? 'the versions never ran at the same time on these devices: compared on the same devices over their own periods'
        : null,
      difference: {
        precision: diff(ta.precision.value, tb.precision.value),
        recall: diff(ta.recall.value, tb.recall.value),
        eventRecall: diff(ta.events.recall.value, tb.events.recall.value),
      },
      minMatured: this.#settings.minMatured,
      definitions: QUALITY_DEFINITIONS,
    };
  }

  /**
   * The rollout engine's quality gate (rollouts/quality.ts): matured predictions of the version on the
   * rollout's devices, in windows the controller received since the rollout began, active and shadow
   * together. Receipt time, not event time: a device replaying last year's data (or one whose clock is
   * off) still gives evidence about the rollout. A window of this version produced before the rollout
   * and delivered after it (a device back from a long outage) counts too; it is the same version.
   */
  evidence(request: QualityEvidenceRequest): QualityEvidence {
    return this.getQuality(request.model, { deviceIds: request.deviceIds, receivedFrom: Date.parse(request.since) });
  }

  getQuality(model: ModelRef, q: { deviceIds?: readonly string[]; since?: string; receivedFrom?: number; role?: ModelRole } = {}): QualityEvidence {
    const rows = this.#repo.quality({
      model: model.name, version: model.version, deviceIds: q.deviceIds, from: q.since, receivedFrom: q.receivedFrom, role: q.role,
    });
    const t = totals(rows);
    const ci = (r: typeof t.precision) => (r.ci === null ? 'n/a' : `[${r.ci[0]}, ${r.ci[1]}]`);
    return {
      samples: t.matured,
      precision: t.precision.value,
      recall: t.recall.value,
      detail: `${t.matured} matured predictions in ${t.windows} windows on ${t.devices} devices; precision ${t.precision.value ?? 'n/a'} ` +
        `(95% Wilson ${ci(t.precision)}, n=${t.precision.n}), recall ${t.recall.value ?? 'n/a'} (${ci(t.recall)}, n=${t.recall.n}); ` +
        `failures caught ${t.events.caught}, missed ${t.events.missed}`,
    };
  }

  /** Every version with its totals, for the overview and the dashboard. */
  overview(model?: string) {
    return this.#repo.versions(model).map((k) => {
      const t = totals(this.#repo.quality({ model: k.model, version: k.version, role: k.role }));
      return { ...k, sufficient: t.matured >= this.#settings.minMatured, totals: t };
    });
  }
}

/**
 * Quality alerts (FIELD.md: "alert when the primary KPI drops >10% or drift passes a threshold"):
 * - precision-drop / recall-drop: a version with at least `minMatured` matured predictions whose
 *   precision (or recall) is below its baseline by more than `dropShare` of it, i.e. value <
 *   baseline x (1 - dropShare). Baselines: the card's hour.precision / hour.recall, and the measured
 *   value of the previous version of the model (the highest lower version with enough matured
 *   predictions); the larger drop is reported. Point estimates are compared; the detail gives the
 *   95% interval so a reader can tell a real drop from a small sample.
 * - drift: over the latest drift window (at least `driftMinSamples` rows) of each device, a device's
 *   median feature PSI (metric "features") or, with `driftScoreAlerts`, the median over the devices of
 *   the score PSI (metric "score") is above `driftPsiThreshold`.
 * One alert per condition: raised once, updated while it holds, resolved when it no longer does, and
 * raised anew if it comes back. Each raised alert is POSTed to the webhook when one is configured,
 * retried on later rounds (at most 5 attempts).
 */
import type { ModelRole } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { type Db, writeTransaction } from '../db/database.js';
import type { Logger } from '../logger.js';
import { confusionRates, type Confusion } from './aggregate.js';
import { compareVersions, type CardBaselines } from './baselines.js';
import type { DriftRow, QualityRepo, VersionKey } from './quality-repo.js';
import { postJson, type WebhookTarget } from './webhook.js';

export interface AlertSettings {
  dropShare: number;
  minMatured: number;
  driftPsiThreshold: number;
  /** Alert on the devices' median score PSI too (off by default: docs/metrics.md, "Drift"). */
  driftScoreAlerts: boolean;
  driftMinSamples: number;
  intervalMs: number;
  webhook?: WebhookTarget | undefined;
}

export type AlertKind = 'precision-drop' | 'recall-drop' | 'drift';

export interface QualityAlertView {
  id: number;
  kind: AlertKind;
  model: { name: string; version: string };
  role: ModelRole;
  metric: string;
  value: number;
  baseline: number;
  baselineSource: string;
  threshold: number;
  detail: string;
  state: 'active' | 'resolved';
  raisedAt: string;
  updatedAt: string;
  resolvedAt: string | null;
  notifiedAt: string | null;
  notifyAttempts: number;
  notifyError: string | null;
}

interface Condition {
  kind: AlertKind;
  model: string;
  version: string;
  role: ModelRole;
  metric: string;
  value: number;
  baseline: number;
  baselineSource: string;
  threshold: number;
  detail: string;
}

export interface AlertsDeps {
  db: () => Db;
  repo: () => QualityRepo;
  cards: () => CardBaselines;
  settings: AlertSettings;
  clock: Clock;
  log: Logger;
}

const MAX_NOTIFY_ATTEMPTS = 5;
const keyOf = (c: Pick<Condition, 'kind' | 'model' | 'version' | 'role' | 'metric'>): string =>
  [c.kind, c.model, c.version, c.role, c.metric].join('\u0000');
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const round = (v: number): number => Math.round(v * 1e4) / 1e4;
const versionKeyOf = (k: VersionKey): string => [k.model, k.version, k.role].join('\u0000');
/** Model, version, role in the order SQLite's ORDER BY gave them (binary text order). */
const byVersionKey = (a: VersionKey, b: VersionKey): number => {
  const [x, y] = [versionKeyOf(a), versionKeyOf(b)];
  return x < y ? -1 : x > y ? 1 : 0;
};
type Rates = ReturnType<typeof confusionRates>;

export class QualityAlerts {
  readonly #deps: AlertsDeps;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  /**
   * Drift windows already read (the last arrival number) and what the rounds need of them: every version
   * key seen, and per key each device's latest window with enough rows. A round reads only the windows
   * stored since the last one (a fleet's history is hundreds of thousands of windows: bench:reports).
   */
  #driftRead = 0;
  readonly #driftKeys = new Map<string, VersionKey>();
  readonly #latestDrift = new Map<string, Map<string, DriftRow>>();

  constructor(deps: AlertsDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    this.#timer = setInterval(() => void this.round(), this.#deps.settings.intervalMs);
    this.#timer.unref();
    await this.round();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  /** One evaluation and webhook round; rounds never overlap. */
  round(): Promise<void> {
    this.#round ??= (async () => {
      try {
        this.evaluate();
        await this.notify();
      } catch (err) {
        this.#deps.log.error({ err }, 'quality alert round failed');
      } finally {
        this.#round = undefined;
      }
    })();
    return this.#round;
  }

  /** Compares every version with its baselines and drift threshold; raises, updates and resolves alerts. */
  evaluate(): { raised: number; resolved: number; active: number } {
    const { clock, log } = this.#deps;
    const db = this.#deps.db();
    const now = clock.now();
    const conditions = new Map(this.conditions().map((c) => [keyOf(c), c]));
    const active = this.list('active');
    let raised = 0;
    let resolved = 0;
    writeTransaction(db, () => {
      for (const a of active) {
        const c = conditions.get(keyOf({ ...a, model: a.model.name, version: a.model.version }));
        if (c === undefined) {
          db.prepare(`UPDATE quality_alerts SET state = 'resolved', resolved_at = ?, updated_at = ? WHERE id = ?`).run(now, now, a.id);
          resolved++;
          continue;
        }
        db.prepare('UPDATE quality_alerts SET value = ?, baseline = ?, baseline_source = ?, threshold = ?, detail = ?, updated_at = ? WHERE id = ?')
          .run(c.value, c.baseline, c.baselineSource, c.threshold, c.detail, now, a.id);
        conditions.delete(keyOf(c));
      }
      for (const c of conditions.values()) {
        db.prepare(`INSERT INTO quality_alerts (kind, model_name, model_version, role, metric, value, baseline, baseline_source, threshold,
          detail, state, raised_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`).run(
          c.kind, c.model, c.version, c.role, c.metric, c.value, c.baseline, c.baselineSource, c.threshold, c.detail, now, now);
        raised++;
        log.warn({ kind: c.kind, model: { name: c.model, version: c.version }, role: c.role, metric: c.metric, value: c.value, baseline: c.baseline }, 'quality alert raised');
      }
    })();
    if (resolved > 0) log.info({ resolved }, 'quality alerts resolved');
    return { raised, resolved, active: active.length - resolved + raised };
  }

  /** POSTs raised alerts not yet delivered to the webhook. */
  async notify(): Promise<void> {
    const { settings, clock, log } = this.#deps;
    if (settings.webhook === undefined) return;
    const db = this.#deps.db();
    const pending = this.list('active').filter((a) => a.notifiedAt === null && a.notifyAttempts < MAX_NOTIFY_ATTEMPTS);
    for (const alert of pending) {
      try {
        await postJson(settings.webhook, { type: 'pdm.quality-alert', alert });
        db.prepare('UPDATE quality_alerts SET notified_at = ?, notify_attempts = notify_attempts + 1, notify_error = NULL WHERE id = ?').run(clock.now(), alert.id);
      } catch (err) {
        const message = (err as Error).message.slice(0, 300);
        db.prepare('UPDATE quality_alerts SET notify_attempts = notify_attempts + 1, notify_error = ? WHERE id = ?').run(message, alert.id);
        log.warn({ err, alertId: alert.id, attempts: alert.notifyAttempts + 1 }, 'quality alert webhook failed');
      }
    }
  }

  list(state: 'active' | 'resolved' | 'all' = 'all', model?: string): QualityAlertView[] {
    const rows = this.#deps.db().prepare(`SELECT * FROM quality_alerts WHERE ($state = 'all' OR state = $state)
      AND ($model IS NULL OR model_name = $model) ORDER BY id DESC LIMIT 1000`).all({ state, model: model ?? null }) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r.id as number, kind: r.kind as AlertKind, model: { name: r.model_name as string, version: r.model_version as string },
      role: r.role as ModelRole, metric: r.metric as string, value: r.value as number, baseline: r.baseline as number,
      baselineSource: r.baseline_source as string, threshold: r.threshold as number, detail: r.detail as string,
      state: r.state as 'active' | 'resolved', raisedAt: iso(r.raised_at as number)!, updatedAt: iso(r.updated_at as number)!,
      resolvedAt: iso(r.resolved_at as number | null), notifiedAt: iso(r.notified_at as number | null),
      notifyAttempts: r.notify_attempts as number, notifyError: r.notify_error as string | null,
    }));
  }

  /**
   * Every condition that holds now. Precision and recall come from the per-version sums of the quality
   * windows (migration 009 keeps them as windows are stored), drift from the drift windows read so far.
   */
  conditions(): Condition[] {
    const sums = this.#deps.repo().versionTotals();
    this.readNewDrift();
    const keys = [...new Map([...sums, ...this.#driftKeys.values()].map((k) => [versionKeyOf(k), { model: k.model, version: k.version, role: k.role }])).values()]
      .sort(byVersionKey);
    const zero: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
    // one version's quality over the given roles (all roles: the previous version's baseline)
    const rates = (model: string, version: string, role?: string): Rates => confusionRates(sums
      .filter((t) => t.model === model && t.version === version && (role === undefined || t.role === role))
      .reduce((c, t) => ({ tp: c.tp + t.confusion.tp, fp: c.fp + t.confusion.fp, tn: c.tn + t.confusion.tn, fn: c.fn + t.confusion.fn }), zero));
    const out: Condition[] = [];
    for (const k of keys) {
      const t = rates(k.model, k.version, k.role);
      if (t.matured >= this.#deps.settings.minMatured) out.push(...this.drops(k, t, keys, rates));
      out.push(...this.drift(k));
    }
    return out;
  }

  /** Reads the drift windows stored since the last read into the version keys and latest windows. */
  private readNewDrift(): void {
    const { last, rows } = this.#deps.repo().driftArrivedAfter(this.#driftRead);
    this.#driftRead = last;
    for (const r of rows) {
      const key = versionKeyOf(r);
      this.#driftKeys.set(key, { model: r.model, version: r.version, role: r.role });
      if (r.n < this.#deps.settings.driftMinSamples) continue;
      let latest = this.#latestDrift.get(key);
      if (latest === undefined) this.#latestDrift.set(key, (latest = new Map()));
      if ((latest.get(r.deviceId)?.windowStart ?? '') < r.windowStart) latest.set(r.deviceId, r);
    }
  }

  private drops(k: VersionKey, t: Rates, keys: readonly VersionKey[], rates: (model: string, version: string) => Rates): Condition[] {
    const { dropShare, minMatured } = this.#deps.settings;
    const card = this.#deps.cards().metrics(k.model, k.version);
    // the previous version in any role: a candidate runs in shadow beside the active version it would replace
    const previous = [...new Set(keys.filter((o) => o.model === k.model && compareVersions(o.version, k.version) < 0).map((o) => o.version))]
      .sort((a, b) => compareVersions(b, a))
      .map((version) => ({ version, totals: rates(k.model, version) }))
      .find((p) => p.totals.matured >= minMatured);
    const prev = previous?.totals;
    const out: Condition[] = [];
    for (const metric of ['precision', 'recall'] as const) {
      const value = t[metric].value;
      if (value === null) continue;
      const baselines: [number, string][] = [];
      if (card[metric] !== null) baselines.push([card[metric]!, 'card']);
      const prevValue = prev?.[metric].value;
      if (prevValue !== undefined && prevValue !== null) baselines.push([prevValue, `previous:${previous!.version}`]);
      const worst = baselines
        .filter(([base]) => value < base * (1 - dropShare))
        // the larger drop: the smaller share of its baseline
        .sort(([a], [b]) => value / a - value / b)[0];
      if (worst === undefined) continue;
      const [baseline, source] = worst;
      const ci = t[metric].ci;
      out.push({
        kind: `${metric}-drop`, model: k.model, version: k.version, role: k.role, metric, value, baseline, baselineSource: source,
        threshold: round(baseline * (1 - dropShare)),
        detail: `${metric} ${value} (95% Wilson [${ci?.join(', ')}], n=${t[metric].n}) is ${Math.round((1 - value / baseline) * 100)}% below ` +
          `its baseline ${baseline} (${source}); alert when more than ${Math.round(dropShare * 100)}% below; ${t.matured} matured predictions`,
      });
    }
    return out;
  }

  private drift(k: VersionKey): Condition[] {
    const { driftPsiThreshold, driftScoreAlerts } = this.#deps.settings;
    const latest = this.#latestDrift.get(versionKeyOf(k)) ?? new Map<string, DriftRow>();
    const out: Condition[] = [];
    // score: across the fleet (the median device). One machine's scores shift when it heads for a failure,
    // which is what the model is for; a shift on most devices is drift
    const scores = [...latest.values()].filter((r) => r.scorePsi !== null).sort((a, b) => a.scorePsi! - b.scorePsi!);
    if (driftScoreAlerts && scores.length > 0) {
      const mid = scores.length >> 1;
      const fleet = scores.length % 2 === 1 ? scores[mid]!.scorePsi! : (scores[mid - 1]!.scorePsi! + scores[mid]!.scorePsi!) / 2;
      const value = Math.round(fleet * 1e6) / 1e6;
      if (value > driftPsiThreshold) {
        const top = scores[scores.length - 1]!;
        out.push({
          kind: 'drift', model: k.model, version: k.version, role: k.role, metric: 'score', value,
          baseline: driftPsiThreshold, baselineSource: 'psi-threshold', threshold: driftPsiThreshold,
          detail: `median score PSI over ${scores.length} devices ${value} is above ${driftPsiThreshold} (largest ${top.scorePsi} on ${top.deviceId}, ` +
            `window ${top.windowStart}, ${top.n} rows)`,
        });
      }
    }
    // features: the window's median feature PSI. The largest one is no measure: on any single machine a few
    // rolling extremes (max/min over 24 readings) sit in two or three of the ten training deciles, which
    // gives a PSI of 1-5 on undrifted training data itself (docs/metrics.md, "Drift")
    const worstFeatures = [...latest.values()].filter((r) => r.medianFeaturePsi !== null).sort((a, b) => b.medianFeaturePsi! - a.medianFeaturePsi!)[0];
    if (worstFeatures !== undefined && worstFeatures.medianFeaturePsi! > driftPsiThreshold) {
      const drifting = [...latest.values()].filter((r) => (r.medianFeaturePsi ?? 0) > driftPsiThreshold).map((r) => r.deviceId).sort();
      const value = Math.round(worstFeatures.medianFeaturePsi! * 1e6) / 1e6;
      out.push({
        kind: 'drift', model: k.model, version: k.version, role: k.role, metric: 'features', value,
        baseline: driftPsiThreshold, baselineSource: 'psi-threshold', threshold: driftPsiThreshold,
        detail: `median feature PSI ${value} on ${worstFeatures.deviceId} (window ${worstFeatures.windowStart}, ${worstFeatures.n} rows; largest ` +
          `${worstFeatures.maxFeature} ${worstFeatures.maxFeaturePsi}) is above ${driftPsiThreshold}; devices above: ${drifting.join(', ')}`,
      });
    }
    return out;
  }
}

/** Read path for records: the recent rows of one device, as the device API shows them. */
import type { Db } from './database.js';
import { unpackPoints } from './prediction-points.js';

export interface PredictionView {
  seq: number;
  idx: number;
  t: string;
  score: number;
  alert: boolean;
  threshold: number;
  horizonHours: number | null;
  model: { name: string; version: string };
  role: string;
  assetId: string;
}

export interface AlertView {
  seq: number;
  time: string;
  assetId: string;
  model: { name: string; version: string };
  score: number;
  threshold: number;
  severity: string;
  windowEnd: string;
  message: string;
}

export interface EventView {
  seq: number;
  time: string;
  assetId: string;
  type: string;
  at: string;
  component: string | null;
  cause: string | null;
  source: string;
  note: string | null;
}

export interface DeploymentView {
  seq: number;
  time: string;
  deploymentId: string;
  model: { name: string; version: string };
  status: string;
  detail: string | null;
}

export interface MetricsSummary {
  windows: number;
  firstWindowStart: string | null;
  lastWindowEnd: string | null;
  readings: number;
  rejectedReadings: Record<string, number>;
  inferences: number;
  inferenceErrors: number;
  alerts: number;
  /** Highest per-window p95 inference latency seen, in ms. */
  latencyP95MaxMs: number | null;
  /** p95 of the most recent window that had one, in ms. */
  latencyP95LastMs: number | null;
}

export interface StoredCounts {
  records: Record<string, number>;
  predictionRows: number;
}

type Row = Record<string, unknown>;
const model = (r: Row) => ({ name: r.model_name as string, version: r.model_version as string });

export class RecordsQuery {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** The device's newest `limit` predictions, newest first: its newest batches (one row each) expanded, last prediction first. */
  predictions(deviceId: string, limit: number): PredictionView[] {
    const views: PredictionView[] = [];
    if (limit <= 0) return views;
    const batches = this.#db.prepare(`SELECT seq, asset_id, model_name, model_version, role, horizon_hours, threshold, points
      FROM prediction_batches WHERE device_id = ? ORDER BY seq DESC`).iterate(deviceId) as IterableIterator<Row>;
    for (const r of batches) {
      const seq = r.seq as number;
      const points = unpackPoints(r.points as string, { deviceId, seq });
      const head = {
        threshold: r.threshold as number, horizonHours: r.horizon_hours as number | null, model: model(r),
        role: r.role as string, assetId: r.asset_id as string,
      };
      for (let idx = points.length - 1; idx >= 0; idx -= 1) {
        const p = points[idx]!;
        views.push({ seq, idx, t: p.t, score: p.score, alert: p.alert, ...head });
        // leaving the loop early ends the statement (better-sqlite3 resets it on return())
        if (views.length === limit) return views;
      }
    }
    return views;
  }

  alerts(deviceId: string, limit: number): AlertView[] {
    const rows = this.#db.prepare('SELECT * FROM alerts WHERE device_id = ? ORDER BY seq DESC LIMIT ?').all(deviceId, limit) as Row[];
    return rows.map((r) => ({
      seq: r.seq as number, time: r.time as string, assetId: r.asset_id as string, model: model(r), score: r.score as number,
      threshold: r.threshold as number, severity: r.severity as string, windowEnd: r.window_end as string,
      message: r.message as string,
    }));
  }

  events(deviceId: string, limit: number): EventView[] {
    const rows = this.#db.prepare('SELECT * FROM machine_events WHERE device_id = ? ORDER BY seq DESC LIMIT ?')
      .all(deviceId, limit) as Row[];
    return rows.map((r) => ({
      seq: r.seq as number, time: r.time as string, assetId: r.asset_id as string, type: r.type as string, at: r.at as string,
      component: r.component as string | null, cause: r.cause as string | null, source: r.source as string,
      note: r.note as string | null,
    }));
  }

  deployments(deviceId: string, limit: number): DeploymentView[] {
    const rows = this.#db.prepare('SELECT * FROM deployment_status WHERE device_id = ? ORDER BY seq DESC LIMIT ?')
      .all(deviceId, limit) as Row[];
    return rows.map((r) => ({
      seq: r.seq as number, time: r.time as string, deploymentId: r.deployment_id as string, model: model(r),
      status: r.status as string, detail: r.detail as string | null,
    }));
  }

  /** What is stored for the device: records per kind, and prediction rows (a batch record holds many). */
  storedCounts(deviceId: string): StoredCounts {
    const byKind = this.#db.prepare('SELECT kind, COUNT(*) AS n FROM records WHERE device_id = ? GROUP BY kind')
      .all(deviceId) as { kind: string; n: number }[];
    const predictionRows = this.#db.prepare('SELECT COALESCE(SUM(rows), 0) FROM prediction_batches WHERE device_id = ?')
      .pluck().get(deviceId) as number;
    return { records: Object.fromEntries(byKind.map((r) => [r.kind, r.n])), predictionRows };
  }

  metricsSummary(deviceId: string): MetricsSummary {
    const totals = this.#db.prepare(`SELECT COUNT(*) AS windows, MIN(window_start) AS firstStart, MAX(window_end) AS lastEnd,
      COALESCE(SUM(readings), 0) AS readings, COALESCE(SUM(inferences), 0) AS inferences,
      COALESCE(SUM(inference_errors), 0) AS inferenceErrors, COALESCE(SUM(alerts), 0) AS alerts,
      MAX(latency_p95) AS p95Max FROM metric_windows WHERE device_id = ?`).get(deviceId) as Row;
    const last = this.#db.prepare(`SELECT latency_p95 FROM metric_windows WHERE device_id = ? AND latency_p95 IS NOT NULL
      ORDER BY seq DESC LIMIT 1`).pluck().get(deviceId) as number | undefined;
    const rejected = this.#db.prepare(`SELECT j.key AS reason, SUM(j.value) AS n FROM metric_windows m, json_each(m.rejected_readings) j
      WHERE m.device_id = ? GROUP BY j.key ORDER BY j.key`).all(deviceId) as { reason: string; n: number }[];
    return {
      windows: totals.windows as number,
      firstWindowStart: totals.firstStart as string | null,
      lastWindowEnd: totals.lastEnd as string | null,
      readings: totals.readings as number,
      rejectedReadings: Object.fromEntries(rejected.map((r) => [r.reason, r.n])),
      inferences: totals.inferences as number,
      inferenceErrors: totals.inferenceErrors as number,
      alerts: totals.alerts as number,
      latencyP95MaxMs: totals.p95Max as number | null,
      latencyP95LastMs: last ?? null,
    };
  }
}

/**
 * The evidence a stage is judged on, read from what devices reported and ingest stored: deployment
 * statuses of the rollout's manifests, metric windows, predictions and shadow comparisons of the new
 * version. Everything is read from the database each time, never kept in memory, so a restarted
 * controller judges exactly as the one before it.
 */
import type { ModelRef } from '@pdm/protocol';
import type { Db } from '../db/database.js';
import { statementCache, type Prepare } from '../db/statements.js';

export interface StatusRecord {
  deviceId: string;
  deploymentId: string;
  status: string;
  detail: string | null;
  seq: number;
}

export interface MetricEvidence {
  windows: number;
  inferences: number;
  errors: number;
  /** Largest p95 latency of any window, ms; null without windows that measured latency. */
  maxP95: number | null;
}

export interface AlertEvidence {
  /** Prediction rows scored. */
  rows: number;
  /** Rows whose score passed the threshold. */
  alerts: number;
}

export interface ComparisonEvidence {
  /** Rows scored by both models. */
  n: number;
  /** Agreement of alert decisions over all compared rows (null when n = 0). */
  agreement: number | null;
  activeAlerts: number;
  candidateAlerts: number;
  candidateErrors: number;
}

const ids = (deviceIds: readonly string[]): string => JSON.stringify(deviceIds);

export class EvidenceQuery {
  /** The engine asks these on every tick (deviceStatuses for every device of a stage): prepared once. */
  readonly #sql: Prepare;

  constructor(db: Db) {
    this.#sql = statementCache(db);
  }

  /** Deployment status records of the given deployments, in the order each device made them. */
  statuses(deploymentIds: readonly string[]): StatusRecord[] {
    if (deploymentIds.length === 0) return [];
    return this.#sql(`SELECT device_id AS deviceId, deployment_id AS deploymentId, status, detail, seq FROM deployment_status
      WHERE deployment_id IN (SELECT value FROM json_each(?)) ORDER BY device_id, seq`).all(JSON.stringify(deploymentIds)) as StatusRecord[];
  }

  /**
   * One device's status records of a rollout's manifests of the new version, in order. The device's
   * range of the (device_id, seq) key first (CROSS JOIN keeps that order), then each record's manifest
   * by its key: with one manifest per device, listing the rollout's manifests first costs O(devices).
   */
  deviceCandidateStatuses(rolloutId: string, deviceId: string): StatusRecord[] {
    return this.#sql(`SELECT s.device_id AS deviceId, s.deployment_id AS deploymentId, s.status, s.detail, s.seq
      FROM deployment_status s CROSS JOIN manifests m ON m.deployment_id = s.deployment_id
      WHERE s.device_id = ? AND m.rollout_id = ? AND m.purpose IN ('stage', 'join') ORDER BY s.seq`).all(deviceId, rolloutId) as StatusRecord[];
  }

  /** Which of the given deployments are the rollout's manifests of the new version (each looked up by its key). */
  candidatesAmong(rolloutId: string, deploymentIds: readonly string[]): string[] {
    if (deploymentIds.length === 0) return [];
    return this.#sql(`SELECT m.deployment_id FROM json_each(?) j CROSS JOIN manifests m ON m.deployment_id = j.value
      WHERE m.rollout_id = ? AND m.purpose IN ('stage', 'join')`).pluck().all(JSON.stringify(deploymentIds), rolloutId) as string[];
  }

  /** One device's status records of one deployment, in order (a stage's manifest names every device of it). */
  deviceStatuses(deploymentId: string, deviceId: string): StatusRecord[] {
    return this.#sql(`SELECT device_id AS deviceId, deployment_id AS deploymentId, status, detail, seq FROM deployment_status
      WHERE deployment_id = ? AND device_id = ? ORDER BY seq`).all(deploymentId, deviceId) as StatusRecord[];
  }

  metrics(model: ModelRef, deviceIds: readonly string[]): MetricEvidence {
    const r = this.#sql(`SELECT COUNT(*) AS windows, COALESCE(SUM(inferences), 0) AS inferences, COALESCE(SUM(inference_errors), 0) AS errors,
      MAX(latency_p95) AS maxP95 FROM metric_windows
      WHERE model_name = ? AND model_version = ? AND device_id IN (SELECT value FROM json_each(?))`).get(model.name, model.version, ids(deviceIds)) as MetricEvidence;
    return r;
  }

  alerts(model: ModelRef, role: 'active' | 'shadow', deviceIds: readonly string[]): AlertEvidence {
    // one row per batch (migration 012), read from its covering index prediction_batches_model
    return this.#sql(`SELECT COALESCE(SUM(rows), 0) AS rows, COALESCE(SUM(alerts), 0) AS alerts FROM prediction_batches
      WHERE model_name = ? AND model_version = ? AND role = ? AND device_id IN (SELECT value FROM json_each(?))`)
      .get(model.name, model.version, role, ids(deviceIds)) as AlertEvidence;
  }

  comparisons(candidate: ModelRef, deviceIds: readonly string[]): ComparisonEvidence {
    const r = this.#sql(`SELECT COALESCE(SUM(json_extract(payload, '$.n')), 0) AS n,
      SUM(json_extract(payload, '$.agreement') * json_extract(payload, '$.n')) AS agreed,
      COALESCE(SUM(json_extract(payload, '$.activeAlerts')), 0) AS activeAlerts,
      COALESCE(SUM(json_extract(payload, '$.candidateAlerts')), 0) AS candidateAlerts,
      COALESCE(SUM(json_extract(payload, '$.candidateErrors')), 0) AS candidateErrors
      FROM record_payloads WHERE kind = 'comparisons' AND device_id IN (SELECT value FROM json_each(?))
      AND json_extract(payload, '$.candidate.name') = ? AND json_extract(payload, '$.candidate.version') = ?`)
      .get(ids(deviceIds), candidate.name, candidate.version) as { n: number; agreed: number | null; activeAlerts: number; candidateAlerts: number; candidateErrors: number };
    return {
      n: r.n, agreement: r.n > 0 && r.agreed !== null ? r.agreed / r.n : null,
      activeAlerts: r.activeAlerts, candidateAlerts: r.candidateAlerts, candidateErrors: r.candidateErrors,
    };
  }
}

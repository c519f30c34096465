/** SQL of rollouts, their devices and stages. State lives here only, so a restart resumes where it was. */
import type { DeploymentMode, ModelRef } from '@pdm/protocol';
import type { Db } from '../db/database.js';
import { statementCache, type Prepare } from '../db/statements.js';
import type { RolloutRequest, RolloutState, Want } from './spec.js';

export interface Baseline extends ModelRef {
  mode?: DeploymentMode | undefined;
}

export interface Rollout {
  id: string;
  model: ModelRef;
  spec: RolloutRequest;
  state: RolloutState;
  stage: number;
  stageStartedAt: number | null;
  reason: string | null;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
}

export interface RolloutDevice {
  rolloutId: string;
  deviceId: string;
  stage: number | null;
  baseline: Baseline | null;
  want: Want;
  deploymentId: string | null;
  commandId: string | null;
  sentAt: number | null;
  answeredAt: number | null;
  answer: string | null;
  attempts: number;
  joinedAt: number;
}

export interface StageRecord {
  stage: number;
  startedAt: number;
  activatedAt: number | null;
  endedAt: number | null;
  outcome: string | null;
  evaluation: unknown;
}

type Row = Record<string, unknown>;

const toRollout = (r: Row): Rollout => ({
  id: r.id as string,
  model: { name: r.model_name as string, version: r.model_version as string },
  spec: JSON.parse(r.spec as string) as RolloutRequest,
  state: r.state as RolloutState,
  stage: r.stage as number,
  stageStartedAt: r.stage_started_at as number | null,
  reason: r.reason as string | null,
  createdAt: r.created_at as number,
  createdBy: r.created_by as string,
  updatedAt: r.updated_at as number,
});

const toDevice = (r: Row): RolloutDevice => ({
  rolloutId: r.rollout_id as string,
  deviceId: r.device_id as string,
  stage: r.stage as number | null,
  baseline: r.baseline === null ? null : (JSON.parse(r.baseline as string) as Baseline),
  want: r.want as Want,
  deploymentId: r.deployment_id as string | null,
  commandId: r.command_id as string | null,
  sentAt: r.sent_at as number | null,
  answeredAt: r.answered_at as number | null,
  answer: r.answer as string | null,
  attempts: r.attempts as number,
  joinedAt: r.joined_at as number,
});

const toStage = (r: Row): StageRecord => ({
  stage: r.stage as number,
  startedAt: r.started_at as number,
  activatedAt: r.activated_at as number | null,
  endedAt: r.ended_at as number | null,
  outcome: r.outcome as string | null,
  evaluation: r.evaluation === null ? null : (JSON.parse(r.evaluation as string) as unknown),
});

export class RolloutsRepo {
  // prepared once: the engine reads and marks rollout devices for every device status and manifest
  // answer, and compiling the SQL per call showed in the controller's profile (bench:rollout)
  readonly #sql: Prepare;

  constructor(db: Db) {
    this.#sql = statementCache(db);
  }

  insert(r: { id: string; spec: RolloutRequest; at: number; by: string }): void {
    this.#sql(`INSERT INTO rollouts (id, model_name, model_version, spec, state, stage, stage_started_at, reason, created_at, created_by, updated_at)
      VALUES (?, ?, ?, ?, 'running', 0, NULL, ?, ?, ?, ?)`)
      .run(r.id, r.spec.model.name, r.spec.model.version, JSON.stringify(r.spec), r.spec.reason ?? null, r.at, r.by, r.at);
  }

  get(id: string): Rollout | undefined {
    const row = this.#sql('SELECT * FROM rollouts WHERE id = ?').get(id) as Row | undefined;
    return row === undefined ? undefined : toRollout(row);
  }

  list(filter: { state?: RolloutState | undefined; model?: string | undefined; limit: number }): Rollout[] {
    return (this.#sql(`SELECT * FROM rollouts WHERE ($state IS NULL OR state = $state) AND ($model IS NULL OR model_name = $model)
      ORDER BY created_at DESC, id LIMIT $limit`).all({ state: filter.state ?? null, model: filter.model ?? null, limit: filter.limit }) as Row[]).map(toRollout);
  }

  /** Rollouts the engine still drives: running and paused ones advance; completed and rolled-back ones keep their devices in line. */
  inStates(states: readonly RolloutState[]): Rollout[] {
    const marks = states.map(() => '?').join(', ');
    return (this.#sql(`SELECT * FROM rollouts WHERE state IN (${marks}) ORDER BY created_at`).all(...states) as Row[]).map(toRollout);
  }

  setState(id: string, state: RolloutState, reason: string | null, at: number): void {
    this.#sql('UPDATE rollouts SET state = ?, reason = ?, updated_at = ? WHERE id = ?').run(state, reason, at, id);
  }

  setStage(id: string, stage: number, startedAt: number): void {
    this.#sql('UPDATE rollouts SET stage = ?, stage_started_at = ?, updated_at = ? WHERE id = ?').run(stage, startedAt, startedAt, id);
    this.#sql(`INSERT INTO rollout_stages (rollout_id, stage, started_at) VALUES (?, ?, ?)
      ON CONFLICT (rollout_id, stage) DO UPDATE SET started_at = excluded.started_at, activated_at = NULL, ended_at = NULL, outcome = NULL`)
      .run(id, stage, startedAt);
  }

  stages(id: string): StageRecord[] {
    return (this.#sql('SELECT * FROM rollout_stages WHERE rollout_id = ? ORDER BY stage').all(id) as Row[]).map(toStage);
  }

  stage(id: string, stage: number): StageRecord | undefined {
    const row = this.#sql('SELECT * FROM rollout_stages WHERE rollout_id = ? AND stage = ?').get(id, stage) as Row | undefined;
    return row === undefined ? undefined : toStage(row);
  }

  saveEvaluation(id: string, stage: number, evaluation: unknown, activatedAt: number | null): void {
    this.#sql('UPDATE rollout_stages SET evaluation = ?, activated_at = COALESCE(activated_at, ?) WHERE rollout_id = ? AND stage = ?')
      .run(JSON.stringify(evaluation), activatedAt, id, stage);
  }

  endStage(id: string, stage: number, outcome: string, at: number): void {
    this.#sql('UPDATE rollout_stages SET outcome = ?, ended_at = ? WHERE rollout_id = ? AND stage = ? AND ended_at IS NULL').run(outcome, at, id, stage);
  }

  devices(id: string): RolloutDevice[] {
    return (this.#sql('SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY device_id').all(id) as Row[]).map(toDevice);
  }

  device(id: string, deviceId: string): RolloutDevice | undefined {
    const row = this.#sql('SELECT * FROM rollout_devices WHERE rollout_id = ? AND device_id = ?').get(id, deviceId) as Row | undefined;
    return row === undefined ? undefined : toDevice(row);
  }

  /** The rollouts a device belongs to, newest first. */
  rolloutsOf(deviceId: string): { rollout: Rollout; device: RolloutDevice }[] {
    const rows = this.#sql(`SELECT r.*, d.rollout_id, d.device_id, d.stage AS d_stage, d.baseline, d.want, d.deployment_id, d.command_id,
      d.sent_at, d.answered_at, d.answer, d.attempts, d.joined_at
      FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id WHERE d.device_id = ? ORDER BY r.created_at DESC, r.id DESC`).all(deviceId) as Row[];
    return rows.map((r) => ({ rollout: toRollout(r), device: toDevice({ ...r, stage: r.d_stage }) }));
  }

  /**
   * Each device's governing rollout (its newest with a want), grouped by rollout id: for one device or
   * for every device.
   */
  governing(deviceId?: string): Map<string, string[]> {
    const rows = this.#sql(`SELECT d.device_id, d.rollout_id FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
      WHERE d.want != 'pending' AND ($device IS NULL OR d.device_id = $device) ORDER BY r.created_at, r.id`)
      .all({ device: deviceId ?? null }) as { device_id: string; rollout_id: string }[];
    // later (newer) rollouts overwrite earlier ones
    const governing = new Map<string, string>();
    for (const row of rows) governing.set(row.device_id, row.rollout_id);
    const byRollout = new Map<string, string[]>();
    for (const [device, rollout] of governing) {
      const devices = byRollout.get(rollout);
      if (devices === undefined) byRollout.set(rollout, [device]);
      else devices.push(device);
    }
    return byRollout;
  }

  addDevice(d: { rolloutId: string; deviceId: string; at: number }): void {
    this.#sql(`INSERT OR IGNORE INTO rollout_devices (rollout_id, device_id, want, joined_at) VALUES (?, ?, 'pending', ?)`)
      .run(d.rolloutId, d.deviceId, d.at);
  }

  /** Sets what the controller wants on the device; a new want starts its attempts from zero. */
  setWant(id: string, deviceId: string, want: Want, fields: { stage?: number; baseline?: Baseline | null; deploymentId: string | null; commandId: string | null }): void {
    this.#sql(`UPDATE rollout_devices SET want = $want, stage = COALESCE($stage, stage), baseline = CASE WHEN $setBaseline THEN $baseline ELSE baseline END,
      deployment_id = $deploymentId, command_id = $commandId, sent_at = NULL, answered_at = NULL, answer = NULL, attempts = 0
      WHERE rollout_id = $id AND device_id = $deviceId`).run({
      id, deviceId, want, stage: fields.stage ?? null, setBaseline: fields.baseline === undefined ? 0 : 1,
      baseline: fields.baseline === undefined || fields.baseline === null ? null : JSON.stringify(fields.baseline),
      deploymentId: fields.deploymentId, commandId: fields.commandId,
    });
  }

  /** A fresh manifest for the same want (the last one expired or did not take). */
  setManifest(id: string, deviceId: string, deploymentId: string, commandId: string): void {
    this.#sql(`UPDATE rollout_devices SET deployment_id = ?, command_id = ?, sent_at = NULL, answered_at = NULL, answer = NULL
      WHERE rollout_id = ? AND device_id = ?`).run(deploymentId, commandId, id, deviceId);
  }

  markSent(id: string, deviceId: string, at: number): void {
    this.#sql('UPDATE rollout_devices SET sent_at = ?, attempts = attempts + 1 WHERE rollout_id = ? AND device_id = ?').run(at, id, deviceId);
  }

  markAnswered(id: string, deviceId: string, commandId: string, answer: string, at: number): void {
    this.#sql('UPDATE rollout_devices SET answered_at = ?, answer = ? WHERE rollout_id = ? AND device_id = ? AND command_id = ?')
      .run(at, answer, id, deviceId, commandId);
  }
}

/**
 * Gathers a rollout's evidence for its current stage and judges it (gates.ts): the engine acts on the
 * verdict, the API shows the same evaluation. Devices judged are every device the rollout has given
 * the new version so far (earlier stages included: a canary that fails later still counts).
 */
import type { Status } from '@pdm/protocol';
import { isoTime } from '../clock.js';
import type { Db } from '../db/database.js';
import { statementCache, type Prepare } from '../db/statements.js';
import { EvidenceQuery, type AlertEvidence, type ComparisonEvidence, type MetricEvidence, type StatusRecord } from './evidence.js';
import { evaluateGates, judgeDevice, verdictOf, type DeviceJudgement, type GateResult, type Verdict } from './gates.js';
import type { QualityEvidenceProvider } from './quality.js';
import type { Rollout, RolloutDevice, RolloutsRepo } from './rollouts-repo.js';
import { FleetQuery, baselineOf } from './targeting.js';

export interface Evaluation {
  stage: number;
  at: string;
  verdict: Verdict;
  gates: GateResult[];
  devices: DeviceJudgement[];
  /** When the activation gate first passed; soak counts from here. */
  activatedAt: string | null;
  soakEndsAt: string | null;
  deadline: string;
}

/** Up to this many devices are judged from their own records; more, from the rollout's in one read. */
const FEW_DEVICES = 8;
const NO_METRICS: MetricEvidence = { windows: 0, inferences: 0, errors: 0, maxP95: null };
const NO_ALERTS: AlertEvidence = { rows: 0, alerts: 0 };
const NO_COMPARISONS: ComparisonEvidence = { n: 0, agreement: null, activeAlerts: 0, candidateAlerts: 0, candidateErrors: 0 };

interface JudgeEvidence {
  /** The rollout's manifests of the new version (all of them, or those the devices judged have to do with). */
  ids: Set<string>;
  records: Map<string, StatusRecord[]>;
  reported: (deviceId: string) => Status['models'];
}

function byDevice(records: readonly StatusRecord[]): Map<string, StatusRecord[]> {
  const out = new Map<string, StatusRecord[]>();
  for (const rec of records) {
    const list = out.get(rec.deviceId) ?? [];
    list.push(rec);
    out.set(rec.deviceId, list);
  }
  return out;
}

export class StageJudge {
  readonly evidence: EvidenceQuery;
  readonly #fleet: FleetQuery;
  readonly #sql: Prepare;

  constructor(db: Db, private readonly quality: () => QualityEvidenceProvider | undefined, private readonly downloadAttempts = 5) {
    this.evidence = new EvidenceQuery(db);
    this.#fleet = new FleetQuery(db);
    this.#sql = statementCache(db);
  }

  /** The rollout's manifests of the new version (not its rollbacks). */
  candidateDeployments(rolloutId: string): Set<string> {
    return new Set(this.#sql(`SELECT deployment_id FROM manifests WHERE rollout_id = ? AND purpose IN ('stage', 'join')`).pluck().all(rolloutId) as string[]);
  }

  /**
   * Per device: did it report a failure of the new version (or commit it)? A few devices (one whose
   * delivery ended or that reported) are read device by device; reading the whole rollout's manifests,
   * records and fleet for each of them made the engine O(devices^2) (bench:rollout).
   */
  judgeDevices(r: Rollout, rows: readonly RolloutDevice[], timedOut: boolean): DeviceJudgement[] {
    const ev = rows.length <= FEW_DEVICES ? this.#fewEvidence(r, rows) : this.#rolloutEvidence(r);
    return rows.map((row) => judgeDevice({
      deviceId: row.deviceId, candidate: r.model, mode: r.spec.mode, deploymentIds: ev.ids, currentDeploymentId: row.deploymentId,
      records: ev.records.get(row.deviceId) ?? [], reported: ev.reported(row.deviceId), timedOut, downloadAttempts: this.downloadAttempts,
    }));
  }

  #rolloutEvidence(r: Rollout): JudgeEvidence {
    const ids = this.candidateDeployments(r.id);
    const fleet = new Map(this.#fleet.all().map((d) => [d.deviceId, d]));
    return { ids, records: byDevice(this.evidence.statuses([...ids])), reported: (id) => fleet.get(id)?.models ?? [] };
  }

  /** Only the devices' own records, and of the rollout's manifests only those they name or report. */
  #fewEvidence(r: Rollout, rows: readonly RolloutDevice[]): JudgeEvidence {
    const records = rows.flatMap((row) => this.evidence.deviceCandidateStatuses(r.id, row.deviceId));
    const reported = new Map(rows.map((row) => [row.deviceId, this.#fleet.get(row.deviceId)?.models ?? []]));
    const named = [...reported.values()].flatMap((models) => models.map((m) => m.deploymentId).filter((id) => id !== undefined));
    const ids = new Set([...records.map((rec) => rec.deploymentId), ...this.evidence.candidatesAmong(r.id, named)]);
    return { ids, records: byDevice(records), reported: (id) => reported.get(id) ?? [] };
  }

  async evaluate(r: Rollout, repo: RolloutsRepo, now: number): Promise<Evaluation> {
    const stage = r.spec.stages[r.stage]!;
    const record = repo.stage(r.id, r.stage);
    const startedAt = record?.startedAt ?? r.stageStartedAt ?? now;
    const deadline = startedAt + stage.timeoutSeconds * 1000;
    const all = repo.devices(r.id);
    const given = all.filter((d) => d.want === 'candidate');
    const devices = this.judgeDevices(r, given, now >= deadline);
    const deviceIds = given.map((d) => d.deviceId);
    // only the evidence a configured gate reads is queried: these scan records that grow all the time
    const g = stage.gates;
    const shadow = r.spec.mode === 'shadow';
    const rateGate = g.maxAlertRateRatio !== undefined;
    const gates = evaluateGates(g, {
      mode: r.spec.mode,
      devices,
      metrics: g.maxInferenceErrorRate !== undefined || g.maxLatencyP95Ms !== undefined ? this.evidence.metrics(r.model, deviceIds) : NO_METRICS,
      candidateAlerts: rateGate && !shadow ? this.evidence.alerts(r.model, 'active', deviceIds) : NO_ALERTS,
      baselineAlerts: rateGate && !shadow ? this.#baselineAlerts(r, all) : NO_ALERTS,
      comparisons: g.minAgreement !== undefined || (rateGate && shadow) ? this.evidence.comparisons(r.model, deviceIds) : NO_COMPARISONS,
      quality: g.quality !== undefined ? await this.#quality(r, deviceIds) : undefined,
    });
    const activated = gates.find((g) => g.gate === 'activation')?.status === 'pass';
    const activatedAt = record?.activatedAt ?? (activated ? now : null);
    const soakMs = stage.soakSeconds * 1000;
    const verdict = verdictOf(gates, { now, activatedAt, soakMs, deadline });
    return {
      stage: r.stage, at: isoTime(now), verdict, gates, devices,
      activatedAt: activatedAt === null ? null : isoTime(activatedAt),
      soakEndsAt: activatedAt === null ? null : isoTime(activatedAt + soakMs),
      deadline: isoTime(deadline),
    };
  }

  /** The current version's alert rate on all of the rollout's devices (each device's own previous version). */
  #baselineAlerts(r: Rollout, rows: readonly RolloutDevice[]): AlertEvidence {
    const byVersion = new Map<string, string[]>();
    for (const row of rows) {
      // a device not given the version yet still runs its current one
      const b = row.baseline ?? baselineOf(this.#fleet.get(row.deviceId)?.models ?? [])
        ?? (r.spec.previousVersion === undefined ? undefined : { name: r.model.name, version: r.spec.previousVersion });
      if (b === undefined || (b.name === r.model.name && b.version === r.model.version)) continue;
      const key = JSON.stringify([b.name, b.version]);
      byVersion.set(key, [...(byVersion.get(key) ?? []), row.deviceId]);
    }
    const sum: AlertEvidence = { rows: 0, alerts: 0 };
    for (const [key, ids] of byVersion) {
      const [name, version] = JSON.parse(key) as [string, string];
      const e = this.evidence.alerts({ name, version }, 'active', ids);
      sum.rows += e.rows;
      sum.alerts += e.alerts;
    }
    return sum;
  }

  async #quality(r: Rollout, deviceIds: string[]) {
    const provider = this.quality();
    if (provider === undefined) return undefined;
    return provider.evidence({ model: r.model, deviceIds, since: isoTime(r.createdAt) });
  }
}

/**
 * Judging a stage: pure functions from evidence to per-device outcomes, gate results and a verdict.
 *
 * A stage passes only on evidence: every gate must pass on at least `minSamples` rows (the activation
 * gate on committed devices), and the soak time must have run since the stage's devices activated.
 * A gate with too little evidence is `insufficient`: it holds the stage, it never passes it. Any
 * failed gate fails the stage at once, soak or not. A stage that reaches its timeout without a verdict
 * has `unknown` devices (offline or silent), which are never counted as successes.
 */
import type { DeploymentMode, ModelRef, Status } from '@pdm/protocol';
import type { AlertEvidence, ComparisonEvidence, MetricEvidence, StatusRecord } from './evidence.js';
import type { QualityEvidence } from './quality.js';
import type { Gates } from './spec.js';

export type DeviceOutcome = 'committed' | 'failed' | 'in-progress' | 'waiting' | 'unknown';

export interface DeviceJudgement {
  deviceId: string;
  outcome: DeviceOutcome;
  /** The latest deployment status the device reported for this rollout's version, if any. */
  status: string | null;
  detail: string | null;
}

export interface JudgeInput {
  deviceId: string;
  candidate: ModelRef;
  mode: DeploymentMode;
  /** This rollout's manifests of the new version (stage and join). */
  deploymentIds: ReadonlySet<string>;
  /** The manifest the device was sent last. */
  currentDeploymentId: string | null;
  /** The device's records for those deployments, oldest first. */
  records: readonly StatusRecord[];
  /** What the device reports it runs. */
  reported: Status['models'];
  timedOut: boolean;
  /**
   * A download cut short by the network is the transport's failure, not the version's: the controller
   * sends a fresh manifest, and only this many failed downloads in a row count against the version.
   */
  downloadAttempts: number;
}

/** A refusal that says "you sent me something I already have / something older", not "this version is bad". */
function isFailure(r: StatusRecord, current: string | null, downloadsFailed: number, downloadAttempts: number): boolean {
  if (r.status === 'failed:download') return downloadsFailed >= downloadAttempts;
  if (r.status.startsWith('failed:')) return true;
  if (!r.status.startsWith('rejected:')) return false;
  const reason = r.status.slice('rejected:'.length);
  if (reason === 'already-installed') return false;
  // a superseded manifest of ours, refused because a later one (same version, higher release) is there
  if (reason === 'rollback' && r.deploymentId !== current) return false;
  return true;
}

export function judgeDevice(input: JudgeInput): DeviceJudgement {
  const relevant = input.records.filter((r) => input.deploymentIds.has(r.deploymentId));
  const latest = relevant[relevant.length - 1];
  const base = { deviceId: input.deviceId, status: latest?.status ?? null, detail: latest?.detail ?? null };
  const downloadsFailed = relevant.filter((r) => r.status === 'failed:download').length;
  const failure = relevant.find((r) => isFailure(r, input.currentDeploymentId, downloadsFailed, input.downloadAttempts));
  if (failure !== undefined) return { ...base, outcome: 'failed', status: failure.status, detail: failure.detail };
  const role = input.mode === 'shadow' ? 'shadow' : 'active';
  const running = input.reported.some((m) => m.name === input.candidate.name && m.version === input.candidate.version && m.role === role
    && m.trial !== true && m.deploymentId !== undefined && input.deploymentIds.has(m.deploymentId));
  if (latest?.status === 'committed' || running) return { ...base, outcome: 'committed' };
  if (input.timedOut) return { ...base, outcome: 'unknown' };
  return { ...base, outcome: latest === undefined ? 'waiting' : 'in-progress' };
}

export type GateStatus = 'pass' | 'fail' | 'insufficient';

export interface GateResult {
  gate: 'activation' | 'failures' | 'inference-errors' | 'latency-p95' | 'alert-rate' | 'agreement' | 'quality';
  status: GateStatus;
  value: number | null;
  threshold: number;
  samples: number;
  detail: string;
  /** An insufficient optional gate does not hold the stage. */
  optional?: boolean;
}

export interface StageEvidence {
  mode: DeploymentMode;
  devices: readonly DeviceJudgement[];
  metrics: MetricEvidence;
  /** The new version's scored rows, and the current version's on the rollout's devices. */
  candidateAlerts: AlertEvidence;
  baselineAlerts: AlertEvidence;
  comparisons: ComparisonEvidence;
  /** Undefined when no quality provider is plugged in. */
  quality: QualityEvidence | undefined;
}

const round = (x: number): number => Math.round(x * 10_000) / 10_000;

export function evaluateGates(g: Gates, ev: StageEvidence): GateResult[] {
  const n = ev.devices.length;
  const committed = ev.devices.filter((d) => d.outcome === 'committed').length;
  const failed = ev.devices.filter((d) => d.outcome === 'failed');
  const results: GateResult[] = [];
  const activation = n === 0 ? 0 : committed / n;
  results.push({
    gate: 'activation', status: n > 0 && activation >= g.minActivationRate ? 'pass' : 'insufficient', value: round(activation),
    threshold: g.minActivationRate, samples: n, detail: `${committed} of ${n} devices committed the version`,
  });
  results.push({
    gate: 'failures', status: failed.length > g.maxFailures ? 'fail' : 'pass', value: failed.length, threshold: g.maxFailures, samples: n,
    detail: failed.length === 0 ? 'no device reported a failure' : failed.map((d) => `${d.deviceId}: ${d.status}`).slice(0, 10).join(', '),
  });
  if (g.maxInferenceErrorRate !== undefined) results.push(inferenceErrors(g.maxInferenceErrorRate, g.minSamples, ev.metrics));
  if (g.maxLatencyP95Ms !== undefined) results.push(latency(g.maxLatencyP95Ms, ev.metrics));
  if (g.maxAlertRateRatio !== undefined) results.push(alertRate(g, ev));
  if (g.minAgreement !== undefined) results.push(agreement(g.minAgreement, g.minSamples, ev.comparisons));
  if (g.quality !== undefined) results.push(quality(g.quality, ev.quality));
  return results;
}

function inferenceErrors(max: number, minSamples: number, m: MetricEvidence): GateResult {
  // a non-finite score counts as an inference and an error; a failed run as errors only
  const samples = Math.max(m.inferences, m.errors);
  const rate = samples === 0 ? 0 : Math.min(1, m.errors / samples);
  const status: GateStatus = samples < minSamples ? 'insufficient' : rate > max ? 'fail' : 'pass';
  return { gate: 'inference-errors', status, value: round(rate), threshold: max, samples, detail: `${m.errors} errors in ${m.inferences} inferences over ${m.windows} metric windows` };
}

function latency(max: number, m: MetricEvidence): GateResult {
  if (m.maxP95 === null) return { gate: 'latency-p95', status: 'insufficient', value: null, threshold: max, samples: 0, detail: 'no metric window measured latency yet' };
  return {
    gate: 'latency-p95', status: m.maxP95 > max ? 'fail' : 'pass', value: round(m.maxP95), threshold: max, samples: m.windows,
    detail: `largest p95 of ${m.windows} metric windows`,
  };
}

function alertRate(g: Gates, ev: StageEvidence): GateResult {
  const max = g.maxAlertRateRatio!;
  const shadow = ev.mode === 'shadow';
  const c = ev.comparisons;
  const cand = shadow ? { rows: c.n, alerts: c.candidateAlerts } : ev.candidateAlerts;
  const base = shadow ? { rows: c.n, alerts: c.activeAlerts } : ev.baselineAlerts;
  const candRate = cand.rows === 0 ? 0 : cand.alerts / cand.rows;
  const baseRate = Math.max(base.rows === 0 ? 0 : base.alerts / base.rows, g.alertRateFloor);
  const ratio = candRate / baseRate;
  const status: GateStatus = cand.rows < g.minSamples ? 'insufficient' : ratio > max ? 'fail' : 'pass';
  return {
    gate: 'alert-rate', status, value: round(ratio), threshold: max, samples: cand.rows,
    detail: `new ${cand.alerts}/${cand.rows} rows alerting vs current ${base.alerts}/${base.rows} (floor ${g.alertRateFloor})${shadow ? ', from shadow comparisons' : ''}`,
  };
}

function agreement(min: number, minSamples: number, c: ComparisonEvidence): GateResult {
  const status: GateStatus = c.n < minSamples || c.agreement === null ? 'insufficient' : c.agreement < min ? 'fail' : 'pass';
  return { gate: 'agreement', status, value: c.agreement === null ? null : round(c.agreement), threshold: min, samples: c.n, detail: `alert decisions agree on ${c.n} compared rows` };
}

function quality(q: NonNullable<Gates['quality']>, ev: QualityEvidence | undefined): GateResult {
  const threshold = q.minPrecision ?? q.minRecall!;
  const base = { gate: 'quality' as const, threshold, optional: q.optional };
  if (ev === undefined) return { ...base, status: 'insufficient', value: null, samples: 0, detail: 'no model-quality provider is plugged in' };
  if (ev.samples < q.minSamples) return { ...base, status: 'insufficient', value: null, samples: ev.samples, detail: `${ev.samples} of ${q.minSamples} matured predictions` };
  const checks: [string, number | undefined, number | null][] = [['precision', q.minPrecision, ev.precision], ['recall', q.minRecall, ev.recall]];
  for (const [name, min, value] of checks) {
    if (min === undefined) continue;
    if (value === null) return { ...base, status: 'insufficient', value: null, threshold: min, samples: ev.samples, detail: `${name} is undefined so far (${ev.detail ?? 'no positives'})` };
    if (value < min) return { ...base, status: 'fail', value: round(value), threshold: min, samples: ev.samples, detail: `${name} ${round(value)} below ${min}` };
  }
  return { ...base, status: 'pass', value: ev.precision ?? ev.recall, samples: ev.samples, detail: `precision ${ev.precision ?? '-'}, recall ${ev.recall ?? '-'} on ${ev.samples} matured predictions` };
}

export type Verdict = 'pass' | 'fail' | 'wait' | 'timeout';

export function verdictOf(results: readonly GateResult[], t: { now: number; activatedAt: number | null; soakMs: number; deadline: number }): Verdict {
  if (results.some((r) => r.status === 'fail')) return 'fail';
  const holding = results.some((r) => r.status === 'insufficient' && r.optional !== true);
  if (!holding && t.activatedAt !== null && t.now - t.activatedAt >= t.soakMs) return 'pass';
  return t.now >= t.deadline ? 'timeout' : 'wait';
}

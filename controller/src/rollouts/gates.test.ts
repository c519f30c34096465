import { describe, expect, it } from 'vitest';
import { evaluateGates, judgeDevice, verdictOf, type StageEvidence } from './gates.js';
import { gatesSchema, rolloutRequestSchema } from './spec.js';
import { chooseDevices, inSync, matchesTarget, stageSize } from './targeting.js';

const candidate = { name: 'm', version: '2.0.0' };
const rec = (status: string, deploymentId = 'd1', seq = 1) => ({ deviceId: 'a', deploymentId, status, detail: null, seq });
const judge = (records: ReturnType<typeof rec>[], over: Partial<Parameters<typeof judgeDevice>[0]> = {}) => judgeDevice({
  deviceId: 'a', candidate, mode: 'alert', deploymentIds: new Set(['d1', 'd2']), currentDeploymentId: 'd2', records, reported: [], timedOut: false, downloadAttempts: 2, ...over,
});

const evidence = (over: Partial<StageEvidence> = {}): StageEvidence => ({
  mode: 'alert',
  devices: [{ deviceId: 'a', outcome: 'committed', status: 'committed', detail: null }, { deviceId: 'b', outcome: 'committed', status: 'committed', detail: null }],
  metrics: { windows: 2, inferences: 200, errors: 0, maxP95: 3 },
  candidateAlerts: { rows: 200, alerts: 4 },
  baselineAlerts: { rows: 1000, alerts: 20 },
  comparisons: { n: 0, agreement: null, activeAlerts: 0, candidateAlerts: 0, candidateErrors: 0 },
  quality: undefined,
  ...over,
});

describe('judging a device', () => {
  it('counts failed:* and refusals as failures, but not a superseded manifest or one it already has', () => {
    expect(judge([rec('received'), rec('trial'), rec('failed:non-finite')]).outcome).toBe('failed');
    expect(judge([rec('rejected:signature', 'd2')]).outcome).toBe('failed');
    expect(judge([rec('rejected:rollback', 'd1'), rec('committed', 'd2', 2)]).outcome).toBe('committed');
    expect(judge([rec('rejected:already-installed', 'd2')]).outcome).toBe('in-progress');
    expect(judge([rec('received'), rec('downloading', 'd1', 2)]).outcome).toBe('in-progress');
    expect(judge([rec('other-rollout-failed', 'x')]).outcome).toBe('waiting');
  });

  it('counts a download the network cut short against the version only after repeated attempts', () => {
    expect(judge([rec('received'), rec('failed:download', 'd1', 2)]).outcome).toBe('in-progress');
    expect(judge([rec('failed:download', 'd1'), rec('failed:download', 'd2', 2)]).outcome).toBe('failed');
  });

  it('is unknown past the timeout without a verdict, and committed when it reports running the version outside a trial', () => {
    expect(judge([rec('received')], { timedOut: true }).outcome).toBe('unknown');
    expect(judge([], { reported: [{ ...candidate, role: 'active', trial: true, deploymentId: 'd2' }] }).outcome).toBe('waiting');
    expect(judge([], { reported: [{ ...candidate, role: 'active', deploymentId: 'd2' }], timedOut: true }).outcome).toBe('committed');
    // shadow mode: the version must run as the shadow
    expect(judge([], { mode: 'shadow', reported: [{ ...candidate, role: 'active', deploymentId: 'd2' }] }).outcome).toBe('waiting');
  });
});

describe('gates', () => {
  const g = (over: Record<string, unknown> = {}) => gatesSchema.parse(over);
  const status = (results: ReturnType<typeof evaluateGates>, gate: string) => results.find((r) => r.gate === gate)?.status;

  it('passes activation only when enough devices committed, and fails on more failures than allowed', () => {
    expect(status(evaluateGates(g(), evidence()), 'activation')).toBe('pass');
    const one = evidence({ devices: [{ deviceId: 'a', outcome: 'committed', status: null, detail: null }, { deviceId: 'b', outcome: 'unknown', status: null, detail: null }] });
    expect(status(evaluateGates(g(), one), 'activation')).toBe('insufficient');
    expect(status(evaluateGates(g({ minActivationRate: 0.5 }), one), 'activation')).toBe('pass');
    const failed = evidence({ devices: [{ deviceId: 'a', outcome: 'failed', status: 'failed:latency', detail: null }] });
    expect(evaluateGates(g({ maxFailures: 0 }), failed).find((r) => r.gate === 'failures')).toMatchObject({ status: 'fail', detail: 'a: failed:latency' });
    expect(status(evaluateGates(g({ maxFailures: 1 }), failed), 'failures')).toBe('pass');
    expect(status(evaluateGates(g(), evidence({ devices: [] })), 'activation')).toBe('insufficient');
  });

  it('judges error rate, latency and alert rate on enough samples only', () => {
    const gates = g({ maxInferenceErrorRate: 0.01, maxLatencyP95Ms: 10, maxAlertRateRatio: 2, minSamples: 100 });
    expect(evaluateGates(gates, evidence()).map((r) => r.status)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass']);
    const nan = evidence({ metrics: { windows: 1, inferences: 150, errors: 150, maxP95: 2 } });
    expect(evaluateGates(gates, nan).find((r) => r.gate === 'inference-errors')).toMatchObject({ status: 'fail', value: 1 });
    expect(status(evaluateGates(gates, evidence({ metrics: { windows: 1, inferences: 20, errors: 20, maxP95: 2 } })), 'inference-errors')).toBe('insufficient');
    expect(status(evaluateGates(gates, evidence({ metrics: { windows: 0, inferences: 0, errors: 0, maxP95: null } })), 'latency-p95')).toBe('insufficient');
    expect(status(evaluateGates(gates, evidence({ metrics: { windows: 3, inferences: 300, errors: 0, maxP95: 11 } })), 'latency-p95')).toBe('fail');
    // 30% of rows alerting against 2%: a ratio of 15
    expect(evaluateGates(gates, evidence({ candidateAlerts: { rows: 200, alerts: 60 } })).find((r) => r.gate === 'alert-rate')).toMatchObject({ status: 'fail', value: 15 });
    // a current version that never alerts is taken at the floor (1%), so 1 alert in 100 rows is fine
    expect(status(evaluateGates(gates, evidence({ candidateAlerts: { rows: 100, alerts: 1 }, baselineAlerts: { rows: 500, alerts: 0 } })), 'alert-rate')).toBe('pass');
    expect(status(evaluateGates(gates, evidence({ candidateAlerts: { rows: 99, alerts: 99 } })), 'alert-rate')).toBe('insufficient');
  });

  it('uses shadow comparisons for agreement and the alert rate in shadow mode', () => {
    const gates = g({ minAgreement: 0.9, maxAlertRateRatio: 2, minSamples: 50 });
    const shadow = evidence({ mode: 'shadow', comparisons: { n: 100, agreement: 0.8, activeAlerts: 5, candidateAlerts: 30, candidateErrors: 0 } });
    const results = evaluateGates(gates, shadow);
    expect(results.find((r) => r.gate === 'agreement')).toMatchObject({ status: 'fail', value: 0.8, samples: 100 });
    expect(results.find((r) => r.gate === 'alert-rate')).toMatchObject({ status: 'fail', value: 6 });
    expect(status(evaluateGates(gates, evidence({ mode: 'shadow' })), 'agreement')).toBe('insufficient');
  });

  it('holds on the quality gate until enough labels matured, unless it is optional', () => {
    const strict = g({ quality: { minRecall: 0.8, minSamples: 100 } });
    expect(evaluateGates(strict, evidence()).find((r) => r.gate === 'quality')).toMatchObject({ status: 'insufficient', detail: 'no model-quality provider is plugged in' });
    expect(status(evaluateGates(strict, evidence({ quality: { samples: 99, precision: 1, recall: 1 } })), 'quality')).toBe('insufficient');
    expect(status(evaluateGates(strict, evidence({ quality: { samples: 100, precision: 0.5, recall: 0.7 } })), 'quality')).toBe('fail');
    expect(status(evaluateGates(strict, evidence({ quality: { samples: 100, precision: 0.5, recall: 0.9 } })), 'quality')).toBe('pass');
    const t = { now: 1000, activatedAt: 0, soakMs: 500, deadline: 5000 };
    expect(verdictOf(evaluateGates(strict, evidence()), t)).toBe('wait');
    expect(verdictOf(evaluateGates(g({ quality: { minRecall: 0.8, optional: true } }), evidence()), t)).toBe('pass');
  });

  it('passes only after the soak time, times out without evidence, fails at once on a failed gate', () => {
    const pass = evaluateGates(g(), evidence());
    expect(verdictOf(pass, { now: 999, activatedAt: 0, soakMs: 1000, deadline: 5000 })).toBe('wait');
    expect(verdictOf(pass, { now: 1000, activatedAt: 0, soakMs: 1000, deadline: 5000 })).toBe('pass');
    const holding = evaluateGates(g(), evidence({ devices: [] }));
    expect(verdictOf(holding, { now: 5000, activatedAt: null, soakMs: 0, deadline: 5000 })).toBe('timeout');
    const failing = evaluateGates(g(), evidence({ devices: [{ deviceId: 'a', outcome: 'failed', status: 'failed:load', detail: null }] }));
    expect(verdictOf(failing, { now: 0, activatedAt: null, soakMs: 1000, deadline: 5000 })).toBe('fail');
  });
});

describe('targeting', () => {
  const dev = { deviceId: 'gw-1', assetClass: 'press', site: 'plant-a' };
  it('matches all, device ids, and selectors where every given field must match', () => {
    expect(matchesTarget({ all: true }, dev)).toBe(true);
    expect(matchesTarget({ deviceIds: ['gw-2'] }, dev)).toBe(false);
    expect(matchesTarget({ assetClasses: ['press'], sites: ['plant-b'] }, dev)).toBe(false);
    expect(matchesTarget({ sites: ['plant-a'] }, dev)).toBe(true);
  });

  it('sizes stages cumulatively and takes online devices first', () => {
    expect(stageSize({ percent: 10 }, 10, 0)).toBe(1);
    expect(stageSize({ percent: 10 }, 11, 0)).toBe(2);
    expect(stageSize({ percent: 100 }, 7, 3)).toBe(7);
    expect(stageSize({ count: 50 }, 7, 0)).toBe(7);
    expect(stageSize({ count: 1 }, 7, 3)).toBe(3);
    expect(chooseDevices([{ deviceId: 'a', online: false }, { deviceId: 'c', online: true }, { deviceId: 'b', online: true }], 2).map((d) => d.deviceId)).toEqual(['b', 'c']);
  });

  it('knows when a device runs what its rollout wants', () => {
    const base = { name: 'm', version: '1.0.0' };
    const running = (version: string, role: 'active' | 'shadow' = 'active') => ({ name: 'm', version, role });
    expect(inSync('candidate', [running('2.0.0')], candidate, 'alert', base)).toBe(true);
    expect(inSync('candidate', [running('1.0.0'), running('2.0.0', 'shadow')], candidate, 'shadow', base)).toBe(true);
    expect(inSync('candidate', [running('1.0.0')], candidate, 'shadow', base)).toBe(false);
    expect(inSync('baseline', [running('1.0.0'), running('2.0.0', 'shadow')], candidate, 'shadow', base)).toBe(false);
    expect(inSync('baseline', [running('1.0.0')], candidate, 'alert', base)).toBe(true);
  });
});

describe('rollout request', () => {
  it('needs a last stage of 100 percent, one of percent or count, and agreement only in shadow mode', () => {
    const base = { model: { name: 'm', version: '2.0.0' }, target: { all: true } };
    const issues = (body: unknown) => rolloutRequestSchema.safeParse(body).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues({ ...base, stages: [{ count: 1 }] })).toEqual(['stages.0.percent: the last stage must be percent 100 (every targeted device)']);
    expect(issues({ ...base, stages: [{ count: 1, percent: 100 }] })).toEqual(['stages.0: give exactly one of percent or count']);
    expect(issues({ ...base, stages: [{ percent: 100, gates: { minAgreement: 0.9 } }] })).toEqual(['stages.0.gates.minAgreement: agreement is measured in shadow mode only']);
    expect(issues({ ...base, mode: 'shadow', stages: [{ percent: 100, gates: { minAgreement: 0.9 } }] })).toEqual([]);
    expect(issues({ ...base, target: { sites: [] }, stages: [{ percent: 100 }] }).length).toBeGreaterThan(0);
  });
});

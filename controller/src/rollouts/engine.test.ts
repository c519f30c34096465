import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '@pdm/protocol';
import { deployCommandId } from './device-sync.js';
import { MODEL, artifactFiles, startRolloutHarness, type RolloutHarness } from './testing/harness.js';
import type { SimDevice } from './testing/sim-device.js';

const stages = (gates: Record<string, unknown> = {}) => [
  { count: 1, soakSeconds: 60, timeoutSeconds: 600, gates },
  { percent: 50, soakSeconds: 60, timeoutSeconds: 600, gates },
  { percent: 100, soakSeconds: 60, timeoutSeconds: 600, gates },
];

let h: RolloutHarness;

beforeEach(async () => {
  h = await startRolloutHarness();
  await h.publish('1.0.0');
  await h.publish('1.1.0-degraded');
});
afterEach(async () => { await h.stop(); });

async function fleet(n: number, behaviour: (i: number) => 'commit' | 'fail' | 'silent' = () => 'commit'): Promise<SimDevice[]> {
  const out: SimDevice[] = [];
  for (let i = 0; i < n; i++) out.push(await h.addDevice(`gw-${String(i).padStart(2, '0')}`, { behaviour: behaviour(i) }));
  return out;
}

async function create(body: Record<string, unknown>): Promise<string> {
  const res = await h.api('POST', '/api/v1/rollouts', { model: { name: MODEL, version: '1.1.0-degraded' }, target: { all: true }, stages: stages(), ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.rollout.id as string;
}

const show = async (id: string) => (await h.api('GET', `/api/v1/rollouts/${id}`)).body.rollout;
const running = (d: SimDevice, version: string) => d.models.some((m) => m.role === 'active' && m.version === version && m.trial !== true);
const given = (devices: SimDevice[]) => devices.filter((d) => d.deploys.length > 0);

describe('RolloutEngine', () => {
  it('promotes a good version stage by stage, each stage only after its soak time on evidence', async () => {
    const devices = await fleet(6);
    const id = await create({ reason: 'better recall' });
    await h.tick();
    await h.until('stage 1 device committed', () => given(devices).length === 1 && running(given(devices)[0]!, '1.1.0-degraded'));
    const stage1 = given(devices);
    await activated(id);
    h.clock.advance(59_000);
    await h.tick();
    expect((await show(id)).stage).toBe(1);
    expect(given(devices)).toHaveLength(1);
    h.clock.advance(1_000);
    await h.tick();
    await h.until('stage 2 reaches half the fleet', () => devices.filter((d) => running(d, '1.1.0-degraded')).length === 3);
    const stage2 = given(devices).filter((d) => !stage1.includes(d));
    await activated(id);
    h.clock.advance(60_000);
    await h.tick();
    await h.until('every device runs the new version', () => devices.every((d) => running(d, '1.1.0-degraded')));
    await activated(id);
    h.clock.advance(60_000);
    await h.tick();
    const done = await show(id);
    expect(done.state).toBe('completed');
    expect(done.stageHistory.map((s: { outcome: string }) => s.outcome)).toEqual(['passed', 'passed', 'passed']);
    // one manifest per device naming only that device, each device got exactly one, releases strictly
    // increasing from stage to stage
    expect(devices.every((d) => d.deploys.length === 1)).toBe(true);
    expect(devices.every((d) => JSON.stringify(d.deploys[0]!.manifest!.target) === JSON.stringify({ deviceIds: [d.deviceId] }))).toBe(true);
    const stage3 = devices.filter((d) => !stage1.includes(d) && !stage2.includes(d));
    const releases = (ds: SimDevice[]) => ds.map((d) => d.deploys[0]!.manifest!.release);
    expect([stage1.length, stage2.length, stage3.length]).toEqual([1, 2, 3]);
    expect(new Set(releases(devices)).size).toBe(6);
    expect(Math.max(...releases(stage1))).toBeLessThan(Math.min(...releases(stage2)));
    expect(Math.max(...releases(stage2))).toBeLessThan(Math.min(...releases(stage3)));
    const audit = (await h.api('GET', `/api/v1/audit?targetType=rollout&targetId=${id}&limit=100`)).body.entries.map((e: { action: string }) => e.action).reverse();
    expect(audit).toEqual(['rollout.create', 'rollout.stage-start', 'rollout.stage-pass', 'rollout.stage-start', 'rollout.stage-pass', 'rollout.stage-start', 'rollout.stage-pass', 'rollout.complete']);
  });

  it('rolls back every device that got a failing version, at stage 1, leaving the others untouched', async () => {
    const devices = await fleet(8, (i) => (i < 2 ? 'fail' : 'commit'));
    const id = await create({ stages: [{ count: 2, soakSeconds: 60, timeoutSeconds: 600 }, { percent: 100, soakSeconds: 60, timeoutSeconds: 600 }] });
    await h.tick();
    await h.until('rolled back', async () => (await show(id)).state === 'rolled-back');
    const r = await show(id);
    expect(r.reason).toMatch(/stage 1 failed: failures 2 vs 0 .*failed:non-finite/);
    await h.until('rollback manifests answered', () => devices.slice(0, 2).every((d) => d.deploys.length === 2));
    const v100 = artifactFiles('1.0.0');
    for (const d of devices.slice(0, 2)) {
      const [candidate, rollback] = d.deploys.map((x) => x.manifest!);
      expect(rollback!.model.version).toBe('1.0.0');
      expect(rollback!.release).toBeGreaterThan(candidate!.release);
      expect(rollback!.artifacts.find((a) => a.name === 'model.onnx')!.sha256).toBe(sha256(v100.model));
    }
    for (const d of devices.slice(2)) expect(d.deploys).toEqual([]);
    const audit = (await h.api('GET', `/api/v1/audit?action=rollout.rollback`)).body.entries;
    expect(audit).toMatchObject([{ actor: 'controller', role: null, target: { id }, reason: r.reason }]);
  });

  it('judges a device the same from its own records (a device that just reported) as from the whole rollout\'s', async () => {
    const behaviours = ['fail', 'silent', 'commit'] as const;
    await fleet(10, (i) => behaviours[i % 3]!);
    const id = await create({ stages: [{ percent: 100, soakSeconds: 0, timeoutSeconds: 600 }] });
    await h.tick();
    const r = h.tc.app.fleet.engine.repo.get(id)!;
    const rows = () => h.tc.app.fleet.engine.repo.devices(id);
    const judged = () => h.tc.app.fleet.engine.judge.judgeDevices(r, rows(), false);
    await h.until('every committing and failing device judged', () => judged().filter((j) => j.outcome === 'committed' || j.outcome === 'failed').length === 7);
    const whole = judged();
    expect(new Set(whole.map((j) => j.outcome))).toEqual(new Set(['committed', 'failed', 'waiting']));
    expect(rows().map((row) => h.tc.app.fleet.engine.judge.judgeDevices(r, [row], false)[0])).toEqual(whole);
  });

  it('fails a stage whose alert rate explodes against the current version', async () => {
    const devices = await fleet(4);
    const id = await create({ stages: [{ count: 1, soakSeconds: 0, timeoutSeconds: 600, gates: { maxAlertRateRatio: 3, minSamples: 20 } }, { percent: 100 }] });
    // the current version alerts on 1 row in 20 across the fleet
    for (const d of devices) await predictions(d, '1.0.0', 20, 1);
    await h.tick();
    const canary = await firstGiven(devices);
    await h.until('canary committed', () => running(canary, '1.1.0-degraded'));
    await h.tick();
    expect((await show(id)).evaluation.gates.find((g: { gate: string }) => g.gate === 'alert-rate').status).toBe('insufficient');
    await predictions(canary, '1.1.0-degraded', 20, 12);
    await h.until('rolled back on the alert rate', async () => { await h.tick(); return (await show(id)).state === 'rolled-back'; });
    expect((await show(id)).reason).toMatch(/alert-rate 12 vs 3 \(new 12\/20 rows alerting vs current 4\/80/);
  });

  it('counts devices silent past the stage timeout as unknown and pauses, never passes', async () => {
    const devices = await fleet(3, (i) => (i === 1 ? 'silent' : 'commit'));
    const id = await create({ stages: [{ count: 2, soakSeconds: 0, timeoutSeconds: 300 }, { percent: 100 }] });
    await h.tick();
    await h.until('one of two committed', () => running(devices[0]!, '1.1.0-degraded') && devices[1]!.deploys.length === 1);
    // what the device did must have reached the controller before its clock jumps (flaky under load otherwise)
    await h.until('the controller saw it commit', async () => {
      await h.tick();
      return (await show(id)).deviceList.find((d: { deviceId: string }) => d.deviceId === 'gw-00')?.outcome === 'committed';
    });
    expect((await show(id)).state).toBe('running');
    h.clock.advance(300_000);
    await h.tick();
    const r = await show(id);
    expect(r.state).toBe('paused');
    expect(r.reason).toMatch(/stage 1 timed out .*activation \(1 of 2 devices committed the version\); unknown devices: gw-01/);
    expect(r.deviceList.find((d: { deviceId: string }) => d.deviceId === 'gw-01')).toMatchObject({ outcome: 'unknown' });
    // resumed, the stage gets a fresh clock; a person may promote past it with a reason
    expect((await h.api('POST', `/api/v1/rollouts/${id}/resume`, {})).body.rollout.state).toBe('running');
    await h.tick();
    expect((await show(id)).state).toBe('running');
    expect((await h.api('POST', `/api/v1/rollouts/${id}/promote`, {})).status).toBe(400);
    const promoted = await h.api('POST', `/api/v1/rollouts/${id}/promote`, { reason: 'gw-01 is being replaced' });
    expect(promoted.body.rollout.stage).toBe(2);
    await h.until('last device given the version', () => devices[2]!.deploys.length === 1);
  });

  it('brings a device that returns after a rollback, and one that joins after completion, to the rollout target', async () => {
    const devices = await fleet(3, (i) => (i === 0 ? 'silent' : 'commit'));
    const first = await create({ stages: [{ count: 2, soakSeconds: 0, timeoutSeconds: 600 }, { percent: 100 }] });
    await h.tick();
    await h.until('the good canary committed', () => running(devices[1]!, '1.1.0-degraded') && devices[0]!.deploys.length === 1);
    await devices[1]!.disconnect();
    await h.until('device known offline', () => h.tc.app.database.handle.prepare('SELECT state FROM devices WHERE device_id = ?').pluck().get('gw-01') === 'offline');
    await devices[0]!.failLast();
    await h.until('rolled back', async () => (await show(first)).state === 'rolled-back');
    expect(devices[1]!.deploys).toHaveLength(1);
    await devices[1]!.connect();
    await h.until('the returning device is back on 1.0.0', () => running(devices[1]!, '1.0.0'));
    expect(devices[1]!.deploys[1]!.manifest!.model.version).toBe('1.0.0');

    // a second, good rollout completes; a device that appears afterwards gets the version at once
    devices[0]!.behaviour = 'commit';
    const second = await create({ id: 'second', stages: [{ percent: 100, soakSeconds: 0, timeoutSeconds: 600 }] });
    await h.tick();
    await h.until('second rollout complete', async () => { await h.tick(); return (await show(second)).state === 'completed'; });
    const late = await h.addDevice('gw-late');
    await h.until('late device runs the new version', () => running(late, '1.1.0-degraded'));
    expect(late.deploys[0]!.manifest!.target).toEqual({ deviceIds: ['gw-late'] });
    await h.until('the controller sees it in line', async () => (await show(second)).deviceList.find((d: { deviceId: string }) => d.deviceId === 'gw-late')?.inSync === true);
    expect((await show(second)).deviceList.find((d: { deviceId: string }) => d.deviceId === 'gw-late')).toMatchObject({ want: 'candidate', outcome: 'committed' });
  });

  it('records an answer that comes after the command timeout instead of sending the manifest again', async () => {
    // the harness times commands out after 1 s; this device answers after 2.5 s
    const slow = await h.addDevice('gw-slow', { replyDelayMs: 2_500 });
    const id = await create({ stages: [{ percent: 100, soakSeconds: 0, timeoutSeconds: 600 }] });
    await h.tick();
    const row = () => h.tc.app.fleet.engine.repo.device(id, 'gw-slow')!;
    await h.until('the late answer is recorded', () => row().answeredAt !== null, 10_000);
    expect(row().answer).toBe('received');
    // past the resend interval: an unanswered manifest would go out again now
    h.clock.advance(10_000);
    await h.tick();
    await h.until('the slow device runs the new version', () => running(slow, '1.1.0-degraded'));
    expect(slow.deploys).toHaveLength(1);
    expect(row().attempts).toBe(1);
  });

  it('resends an unanswered manifest with the same command id, and answers pause, resume, abort and rollback by hand', async () => {
    const devices = await fleet(2);
    const offline = devices[1]!;
    await offline.disconnect();
    const id = await create({ stages: [{ percent: 100, soakSeconds: 0, timeoutSeconds: 600 }] });
    await h.tick();
    await h.until('online device committed', () => running(devices[0]!, '1.1.0-degraded'));
    expect((await h.api('POST', `/api/v1/rollouts/${id}/pause`, { reason: 'night shift' })).body.rollout.state).toBe('paused');
    expect((await h.api('POST', `/api/v1/rollouts/${id}/pause`, {})).body.rollout.state).toBe('paused');
    await offline.connect();
    await h.until('returning device got the manifest', () => offline.deploys.length === 1);
    const sent = offline.deploys[0]!;
    // the command that went out while it was offline, resent with its id as it came back
    expect(sent.commandId).toBe(deployCommandId(sent.manifest!.deploymentId, 'gw-01'));
    expect(h.tc.app.fleet.engine.repo.device(id, 'gw-01')!.attempts).toBeGreaterThanOrEqual(2);
    offline.behaviour = 'silent';
    h.clock.advance(10_000);
    await h.tick();
    expect((await h.api('POST', `/api/v1/rollouts/${id}/abort`, {})).status).toBe(400);
    const aborted = await h.api('POST', `/api/v1/rollouts/${id}/abort`, { reason: 'wrong model' });
    expect(aborted.body.rollout.state).toBe('aborted');
    expect((await h.api('POST', `/api/v1/rollouts/${id}/resume`, {})).status).toBe(409);
    const rolled = await h.api('POST', `/api/v1/rollouts/${id}/rollback`, { reason: 'undo the canary' });
    expect(rolled.body.rollout.state).toBe('rolled-back');
    await h.until('both devices back on 1.0.0', () => devices.every((d) => d.deploys.some((x) => x.manifest?.model.version === '1.0.0')));
    const actions = (await h.api('GET', `/api/v1/audit?targetId=${id}`)).body.entries.map((e: { action: string; actor: string; reason: string | null }) => [e.action, e.actor, e.reason]);
    expect(actions.slice(0, 3)).toEqual([['rollout.rollback', 'admin', 'undo the canary'], ['rollout.abort', 'admin', 'wrong model'], ['rollout.pause', 'admin', 'night shift']]);
  });

  it('resumes a rollout after a controller restart, mid-stage, from the database', async () => {
    const devices = await fleet(4);
    const id = await create({ stages: [{ count: 2, soakSeconds: 120, timeoutSeconds: 600 }, { percent: 100, soakSeconds: 0, timeoutSeconds: 600 }] });
    await h.tick();
    await h.until('canaries committed', () => given(devices).length === 2 && given(devices).every((d) => running(d, '1.1.0-degraded')));
    await h.tick();
    const dataDir = h.tc.config.dataDir;
    const clock = h.clock;
    for (const d of devices) await d.disconnect();
    await h.tc.app.stop();
    h = await startRolloutHarness({ dataDir, clock });
    for (const d of devices) {
      h.devices.set(d.deviceId, d);
      await d.connect(h.tc.mqttUrl);
    }
    await h.until('devices known online', () => h.tc.app.database.handle.prepare("SELECT COUNT(*) FROM devices WHERE state = 'online'").pluck().get() === 4);
    await h.tick();
    expect(await show(id)).toMatchObject({ state: 'running', stage: 1 });
    clock.advance(120_000);
    await h.tick();
    await h.until('stage 2 done', () => devices.every((d) => running(d, '1.1.0-degraded')));
    await h.tick();
    await h.until('completed', async () => { await h.tick(); return (await show(id)).state === 'completed'; });
    expect(devices.every((d) => d.deploys.filter((x) => x.answer === 'received').length === 1)).toBe(true);
  });
});

/** Waits until the engine has recorded that the current stage's devices activated (soak counts from then). */
async function activated(id: string): Promise<void> {
  await h.until(`${id} stage activated`, async () => {
    await h.tick();
    return (await show(id)).stageHistory.at(-1)?.activatedAt != null;
  });
}

async function predictions(d: SimDevice, version: string, rows: number, alerts: number): Promise<void> {
  await d.publish('predictions', {
    deviceId: d.deviceId, seq: d.nextSeq(), time: new Date().toISOString(), assetId: `asset-${d.deviceId}`, model: { name: MODEL, version },
    role: 'active', horizonHours: 24, threshold: 0.5,
    predictions: Array.from({ length: rows }, (_v, i) => ({ t: new Date(Date.UTC(2015, 0, 1, i)).toISOString(), score: i < alerts ? 0.9 : 0.1, alert: i < alerts })),
  });
}

async function firstGiven(devices: SimDevice[]): Promise<SimDevice> {
  await h.until('a device got the version', () => given(devices).length > 0);
  return given(devices)[0]!;
}

/**
 * Issue 5 end to end on real parts: a controller process and agent processes replaying real Azure PdM
 * machines (telemetry, failures and maintenance of Jan-Mar 2015) through the reference ONNX model.
 * - the reliability report counts exactly the failure records of those machines in the replayed period;
 * - the devices' quality windows judge every one of those failures (caught + missed);
 * - an event entered at the controller reaches a running device, and one for an offline device
 *   reaches it once it is back (not through broker queues), each recorded once;
 * - a replay that starts again sends its events again; the report still counts each failure once.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azureDir, azureTelemetry, repoRoot, startAzureAgent, startController, type ControllerHandle } from '../helpers/fleet.js';
import type { Program } from '../helpers/process.js';

const MACHINES = [1, 3, 12];
const MODEL = 'azure-pdm-failure-24h';
const FROM = '2015-01-01T00:00:00.000Z';
const TO = '2015-04-02T00:00:00.000Z';

const utc = (s: string): number => Date.parse(`${s.replace(' ', 'T')}Z`);

/** First and last telemetry time per machine, and the failure and maintenance rows of each. */
function azureFacts() {
  const range = new Map<number, { first: number; last: number }>();
  for (const line of readFileSync(azureTelemetry, 'utf8').split('\n').slice(1)) {
    const [time, machine] = line.split(',');
    if (time === undefined || machine === undefined || time === '') continue;
    const m = Number(machine);
    const t = utc(time);
    const r = range.get(m) ?? { first: t, last: t };
    range.set(m, { first: Math.min(r.first, t), last: Math.max(r.last, t) });
  }
  const rows = (file: string) => readFileSync(join(azureDir, file), 'utf8').split('\n').slice(1).filter((l) => l !== '')
    .map((l) => { const [time, machine, comp] = l.split(','); return { t: utc(time!), machine: Number(machine), comp: comp!.replace(/"/g, '') }; });
  return { range, failures: rows('PdM_failures.csv'), maintenance: rows('PdM_maint.csv') };
}

describe('a replay of real Azure PdM machines: reliability report, quality windows and entered events', () => {
  let dir: string;
  let controller: ControllerHandle;
  let token: string;
  const facts = azureFacts();
  const running: Program[] = [];
  /** Failure records of the machine inside its replayed telemetry (the agent sends only those). */
  const replayedFailures = (m: number) => {
    const r = facts.range.get(m)!;
    return facts.failures.filter((f) => f.machine === m && f.t >= r.first && f.t <= r.last);
  };

  const agent = (machine: number, exitWhenDone: boolean, resume?: boolean): Program => {
    const p = startAzureAgent({ resume,
      deviceId: `gw-m${machine}`, machineId: machine, brokerUrl: controller.mqttUrl, dataDir: join(dir, `gw-m${machine}`),
      exitWhenDone, heartbeatSeconds: 1, site: machine === 12 ? 'plant-b' : 'plant-a', logFile: join(dir, `gw-m${machine}.log`),
      passwordFile: controller.passwordFile(`gw-m${machine}`),
    });
    running.push(p);
    return p;
  };

  async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${controller.httpUrl}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const report = () => controller.get<any>(`/api/v1/reports/reliability?from=${FROM}&to=${TO}&groupBy=asset`);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-e2e-quality-'));
    controller = await startController({
      dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log'),
      extraArgs: ['--model-cards-dir', join(repoRoot, 'models/artifacts'), '--event-retry-sec', '2'],
    });
    token = readFileSync(join(dir, 'controller', 'admin.token'), 'utf8').trim();
    for (const m of MACHINES) await controller.enroll(`gw-m${m}`, { site: m === 12 ? 'plant-b' : 'plant-a' });
    const agents = MACHINES.map((m) => agent(m, true));
    const done = await Promise.all(agents.map((a) => a.waitFor('agent done', 120_000)));
    await Promise.all(agents.map((a) => a.exited));
    // every record the agents committed is stored before the assertions read the database
    await until('all records stored', async () => {
      const { devices } = await controller.get<{ devices: { deviceId: string; seq: { contiguous: number } }[] }>('/api/v1/devices');
      return done.every((d, i) => devices.find((v) => v.deviceId === `gw-m${MACHINES[i]}`)?.seq.contiguous === d['lastSeq']) ? true : undefined;
    });
  });

  afterAll(async () => {
    for (const p of running) await p.stop('SIGKILL');
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts exactly the failure records of the replayed machines and period, with the assumed repair times stated', async () => {
    const r = await report();
    const groups = new Map<string, any>(r.groups.map((g: any) => [g.key, g]));
    for (const m of MACHINES) {
      const failures = replayedFailures(m);
      expect(failures.length, `machine ${m}`).toBeGreaterThan(0);
      const g = groups.get(`machine-${m}`);
      expect(g.failures, `machine-${m}`).toBe(failures.length);
      // each failure stops the asset for the assumed 8 h, simultaneous ones once
      expect(g.downtimeHours.unplanned).toBe(new Set(failures.map((f) => f.t)).size * 8);
      expect(g.mttrHours).toBe(8);
      expect(g.mtbfHours).toBeCloseTo(g.operatingHours / failures.length, 3);
    }
    expect(r.totals.failures).toBe(MACHINES.reduce((s, m) => s + replayedFailures(m).length, 0));
    expect(r.assumptions).toMatchObject({ repairHours: { failure: 8, maintenance: 2 } });
    expect(r.assumptions.statement).toMatch(/Azure PdM records none/);
    expect(r.definitions.mtbfHours).toMatch(/SMRP 3\.5\.1/);
    expect(r.pareto.byAsset.map((p: any) => p.key).sort()).toEqual(MACHINES.map((m) => `machine-${m}`).sort());
    expect(r.modelVersions.map((v: any) => [v.assetId, v.version])).toEqual(MACHINES.map((m) => [`machine-${m}`, '1.0.0']));
  });

  it('judges every replayed failure in the devices\' quality windows (caught + missed), with intervals', async () => {
    const q = await controller.get<any>(`/api/v1/models/${MODEL}/versions/1.0.0/quality`);
    const expected = MACHINES.reduce((s, m) => s + replayedFailures(m).length, 0);
    expect(q.totals.events.caught + q.totals.events.missed).toBe(expected);
    expect(q.totals.devices).toBe(MACHINES.length);
    expect(q.totals.matured).toBeGreaterThan(5000);
    const { precision, recall } = q.totals;
    for (const rate of [precision, recall]) {
      expect(rate.ci[0]).toBeLessThanOrEqual(rate.value);
      expect(rate.ci[1]).toBeGreaterThanOrEqual(rate.value);
    }
    expect(q.card).toEqual({ precision: 0.1842, recall: 0.6786 });
    expect(q.drift.length).toBeGreaterThan(0);
    const r = await report();
    const byAsset = new Map<string, any>(r.modelVersions.map((v: any) => [v.assetId, v]));
    for (const m of MACHINES) expect(byAsset.get(`machine-${m}`).caught + byAsset.get(`machine-${m}`).missed).toBe(replayedFailures(m).length);
  });

  it('delivers entered events to running and to returning devices, and counts a re-sent replay once', async () => {
    // machine 3 replays again from the first row (resume off) and stays up: its replay events arrive a second time
    const m3 = agent(3, false, false);
    await m3.waitFor('replay finished', 120_000);
    const entered = await post('/api/v1/events', { type: 'failure', assetId: 'machine-3', at: '2015-02-20T10:00:00Z', end: '2015-02-20T16:00:00Z', component: 'comp3' });
    expect(entered.status).toBe(201);
    // machine 12's device is offline (its agent exited): the event waits for it
    const waiting = await post('/api/v1/events', { type: 'maintenance', assetId: 'machine-12', at: '2015-03-10T08:00:00Z', component: 'comp1', source: 'cmms' });
    expect(waiting.status).toBe(201);
    const delivered = (id: string) => until(`delivery of ${id}`, async () => {
      const { event } = await controller.get<any>(`/api/v1/events/${id}`);
      return event.deliveries.every((d: any) => d.deliveredAt !== null) ? event : undefined;
    });
    expect((await delivered(entered.body.event.eventId)).deliveries[0].deviceId).toBe('gw-m3');
    await m3.waitFor((l) => l.msg === 'machine event recorded' && l['eventId'] === entered.body.event.eventId, 10_000);
    const pending = await controller.get<any>(`/api/v1/events/${waiting.body.event.eventId}`);
    expect(pending.event.deliveries[0].deliveredAt).toBeNull();
    const m12 = agent(12, false);
    expect((await delivered(waiting.body.event.eventId)).deliveries[0].deviceId).toBe('gw-m12');
    await m12.waitFor((l) => l.msg === 'machine event recorded' && l['eventId'] === waiting.body.event.eventId, 10_000);
    const r = await report();
    const m3report = r.groups.find((g: any) => g.key === 'machine-3');
    expect(m3report.failures).toBe(replayedFailures(3).length + 1);
    // the entered failure ended after 6 h: that is its repair time, not the assumed 8 h
    expect(m3report.repairHours).toBe(replayedFailures(3).length * 8 + 6);
  });
});

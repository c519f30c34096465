/**
 * A frozen restart state seen by the fleet, on real processes: an agent whose outbox is at its file cap
 * with critical records only (what a long outage leaves) leaves its restart snapshots out of every
 * commit while it runs offline. Its status at connect, built before any record drained, tells the
 * controller that the resume point is frozen and was never stored; the device view, the fleet summary
 * and /metrics show it, and its stop status still does. The next run, with room, stores its snapshots
 * and its stop status says when: the fleet counts it no more.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteOutbox, systemClock } from '@pdm/agent';
import { fillWithCritical, silentLogger } from '@pdm/agent/testing';
import { startController, type ControllerHandle } from '../helpers/fleet.js';
import type { Program } from '../helpers/process.js';
import { OUTBOX, agentConfig, deviceDetail, freePort, readOutbox, runAgent, until, type DeviceDetail } from './support.js';

const CAP = 384 * 1024;

interface Summary { restartState: { frozen: number; longest: { deviceId: string; notStoredSince: string; storedAt: string | null }[] } }

const dir = mkdtempSync(join(tmpdir(), 'pdm-restart-state-'));
const cleanup: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
  rmSync(dir, { recursive: true, force: true });
});

const deviceView = async (c: ControllerHandle, deviceId: string): Promise<DeviceDetail['device']> => (await deviceDetail(c, deviceId)).device;

describe('an agent whose outbox has no room for its restart state', () => {
  it('reports the frozen resume point to the controller, and that it is current again once stored', { timeout: 180_000 }, async () => {
    const deviceId = 'gw-frozen';
    const dataDir = join(dir, deviceId);
    const controllerDir = join(dir, 'controller');
    const port = await freePort();
    const controllerAt = () => startController({ dataDir: controllerDir, ports: { mqtt: port }, logFile: join(dir, 'controller.log') });
    // enrolled first, then the controller goes away: the agent runs offline, reconnecting
    let controller: ControllerHandle = await controllerAt();
    const passwordFile = await controller.enroll(deviceId);
    await controller.stop();

    mkdirSync(dataDir, { recursive: true });
    const outbox = new SqliteOutbox({ file: join(dataDir, OUTBOX), deviceId, synchronous: 'NORMAL', maxFileBytes: CAP, clock: systemClock, log: silentLogger });
    outbox.start();
    const prefilled = fillWithCritical(outbox).length;
    outbox.stop();
    expect(prefilled).toBeGreaterThan(100);

    // no quality journal: it would give up its space in the file for records, and records make room for snapshots
    const extra = { outbox: { maxFileBytes: CAP }, quality: { enabled: false }, link: { reconnectInitialMs: 50, reconnectMaxMs: 300 } };
    const options = { deviceId, machineId: 1, brokerUrl: `mqtt://127.0.0.1:${port}`, dataDir, speed: 'max' as const, heartbeatSeconds: 3600, passwordFile };
    const started = Date.now();
    const agent: Program = runAgent(dir, 'frozen', agentConfig({ ...options, maxRows: 200, exitWhenDone: false }, extra));
    cleanup.push(() => agent.stop('SIGKILL'));
    await agent.waitFor('replay finished', 60_000);
    expect(agent.lines.find((l) => l.msg === 'state not written: outbox full')).toMatchObject({ level: 40, statesNotStored: 1 });

    controller = await controllerAt();
    cleanup.push(() => controller.stop());
    // the status at connect, built before any record drained: the only one until the stop (heartbeatSeconds 3600)
    const online = await until('the status at connect', async () => {
      const d = await deviceView(controller, deviceId);
      return d.state === 'online' ? d : undefined;
    });
    const restart = online.restartState!;
    expect(restart).toMatchObject({ frozen: true, storedAt: null, stretches: 1 });
    // frozen by this run's commits, not dated from the file or a stale status
    expect(Date.parse(restart.notStoredSince!)).toBeGreaterThanOrEqual(started);
    expect(Date.parse(restart.notStoredSince!)).toBeLessThanOrEqual(Date.now());
    const summary = await controller.get<Summary>('/api/v1/fleet/summary');
    expect(summary.restartState).toEqual({ frozen: 1, longest: [{ deviceId, state: 'online', notStoredSince: restart.notStoredSince, storedAt: null }] });
    const metrics = await (await fetch(`${controller.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^pdm_fleet_restart_state_frozen 1$/m);

    // the alerts of the run found no room either (critical: their commit failed, logged): the pipeline wrote
    // no snapshot for the rest of the run (agent/README.md), so even drained, its clean stop leaves it frozen
    const failed = agent.lines.find((l) => l.msg === 'commit to outbox failed');
    expect(failed?.['kinds']).toContain('alerts');
    await until('every record delivered', async () => {
      const d = await deviceView(controller, deviceId);
      return d.seq.contiguous >= (d.lastSeqReported ?? Infinity) ? d : undefined;
    });
    expect((await agent.stop('SIGTERM')).code).toBe(0);
    expect(readOutbox(dataDir).statesStoredAt).toBeUndefined();
    const stopped = await until('the stop status', async () => {
      const d = await deviceView(controller, deviceId);
      return d.state === 'offline' ? d : undefined;
    });
    expect(stopped.restartState).toEqual(restart);

    // the next run finds room: it stores its snapshots, and its stop status says when
    const next: Program = runAgent(dir, 'stored', agentConfig({ ...options, maxRows: 50, exitWhenDone: true }, extra));
    cleanup.push(() => next.stop('SIGKILL'));
    await next.waitFor('agent done', 60_000);
    expect((await next.exited).code).toBe(0);
    const storedAt = readOutbox(dataDir).statesStoredAt;
    expect(storedAt).toBeGreaterThan(Date.parse(restart.notStoredSince!));
    const current = await until('the stop status of the next run', async () => {
      const d = await deviceView(controller, deviceId);
      return d.state === 'offline' && d.restartState?.frozen === false ? d : undefined;
    });
    expect(current.restartState).toEqual({ frozen: false, storedAt: new Date(storedAt!).toISOString(), notStoredSince: null, stretches: 0 });
    expect((await controller.get<Summary>('/api/v1/fleet/summary')).restartState).toEqual({ frozen: 0, longest: [] });
    expect(await (await fetch(`${controller.httpUrl}/metrics`)).text()).toMatch(/^pdm_fleet_restart_state_frozen 0$/m);
  });
});

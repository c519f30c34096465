/**
 * Issue 4, a full disk and a corrupt database, on real files:
 *
 * - a SqliteOutbox on a 1 MiB tmpfs (a really full filesystem: the WAL cannot grow, the seq
 *   reservation cannot be written): the outbox sizes itself to the filesystem at start, and when another
 *   program then takes the last byte it still keeps every critical record and counts every routine one
 *   it evicts; runs only where this process may mount a tmpfs (root), and says so when skipped;
 * - an agent process with a small `outbox.maxFileBytes` buffers 2000 hours offline, evicting by policy,
 *   then delivers: the controller shows the drops by reason, exactly as many seqs missing as the device
 *   dropped, and every alert and machine event;
 * - an agent whose outbox file is corrupt at start sets it aside, reports it in its heartbeat (the
 *   controller's device view shows it) and goes on above the seqs it may have used: no conflict.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteOutbox, systemClock, type RecordDraft } from '@pdm/agent';
import { captureLogger } from '@pdm/agent/testing';
import { startController, type ControllerHandle } from '../helpers/fleet.js';
import type { Program } from '../helpers/process.js';
import { OUTBOX, agentConfig, deviceDetail, freePort, readOutbox, runAgent, until, type IngestTotals } from './support.js';

const T = '2015-01-01T06:00:00.000Z';
const event = (i: number): RecordDraft => ({ kind: 'events', record: { time: T, assetId: 'm1', type: 'failure', at: T, component: `c${i}`, source: 'replay' } });
const metric = (): RecordDraft => ({
  kind: 'metrics',
  record: { time: T, assetId: 'm1', windowStart: T, windowEnd: T, readings: 1, rejectedReadings: {}, inferences: 1, inferenceErrors: 0, alerts: 0 },
});
const prediction = (): RecordDraft => ({
  kind: 'predictions',
  record: {
    time: T, assetId: 'm1', model: { name: 'm', version: '1' }, role: 'active', threshold: 0.5,
    predictions: Array.from({ length: 60 }, (_, i) => ({ t: T, score: i / 60, alert: false })),
  },
});

function tryMountTmpfs(at: string, bytes: number): boolean {
  mkdirSync(at, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', at], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'pdm-disk-full-'));
const mountPoint = join(dir, 'tiny');
const mounted = tryMountTmpfs(mountPoint, 1024 * 1024);
if (!mounted) console.log(JSON.stringify({ proof: 'disk-full-tmpfs', skipped: 'cannot mount a tmpfs here (needs root); the max_page_count tests cover SQLITE_FULL' }));

const cleanup: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
  // lazily when a failed test left the database open on it: never leave a mount behind
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  rmSync(dir, { recursive: true, force: true });
});

describe('a really full filesystem', () => {
  it.skipIf(!mounted)('sizes itself to a 1 MiB filesystem, then survives another program filling it: critical kept, counts exact', () => {
    const file = join(mountPoint, OUTBOX);
    const { log, lines } = captureLogger('info');
    const outbox = new SqliteOutbox({ file, deviceId: 'dev-full', synchronous: 'NORMAL', criticalSynchronous: 'FULL', clock: systemClock, log });
    outbox.start();
    const opened = lines.find((l) => l['msg'] === 'outbox opened')!;
    expect(Number(opened['fileCap'])).toBeLessThan(1024 * 1024);
    const submitted = { critical: 0, metrics: 0, predictions: 0 };
    const critical: number[] = [];
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        const drafts = i % 10 === 0 ? [event(i), prediction()] : i % 4 === 0 ? [metric(), prediction()] : [prediction()];
        const entries = outbox.commit(drafts);
        for (const d of drafts) submitted[d.kind === 'events' ? 'critical' : d.kind === 'metrics' ? 'metrics' : 'predictions']++;
        critical.push(...entries.filter((e) => e.recordClass === 'critical').map((e) => e.seq));
      }
    };
    run(1_500);
    expect(outbox.stats().dropped['disk-full:predictions']).toBeGreaterThan(500);
    // another program takes every byte left on the filesystem
    let fillers = 0;
    try {
      for (;;) writeFileSync(join(mountPoint, `filler-${fillers++}`), Buffer.alloc(4096));
    } catch (err) {
      expect((err as { code?: string }).code).toBe('ENOSPC');
    }
    run(1_500);
    const stats = outbox.stats();
    outbox.stop();
    expect(lines.some((l) => l['msg'] === 'records evicted' && l['reason'] === 'disk-full:predictions')).toBe(true);
    expect(critical).toHaveLength(submitted.critical);
    for (const cls of ['metrics', 'predictions'] as const) {
      expect(stats.byClass[cls].depth + (stats.dropped[`disk-full:${cls}`] ?? 0), cls).toBe(submitted[cls]);
    }
    expect(Object.keys(stats.dropped).filter((r) => r.endsWith(':critical'))).toEqual([]);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare("SELECT seq FROM records WHERE class = 'critical' ORDER BY seq").pluck().all()).toEqual(critical);
    db.close();
    console.log(JSON.stringify({ proof: 'disk-full-tmpfs', bytes: 1024 * 1024, fileCap: opened['fileCap'], fillers, submitted, dropped: stats.dropped }));
  });
});

describe('an agent with a small outbox file cap, offline for 2000 hours', () => {
  it('drops by policy, counts exactly, and the controller shows it with every critical record', { timeout: 120_000 }, async () => {
    const deviceId = 'gw-capped';
    const dataDir = join(dir, deviceId);
    const port = await freePort();
    const extra = { metricsWindowSeconds: 3600, inference: { maxBatchRows: 8 }, outbox: { maxFileBytes: 384 * 1024 }, link: { reconnectInitialMs: 50, reconnectMaxMs: 300 } };
    const common = { deviceId, machineId: 1, brokerUrl: `mqtt://127.0.0.1:${port}`, dataDir, heartbeatSeconds: 1 };
    let agent: Program = runAgent(dir, 'capped-offline', agentConfig({ ...common, speed: 'max', maxRows: 2000, exitWhenDone: false }, extra));
    cleanup.push(() => agent.stop('SIGKILL'));
    await agent.waitFor('replay finished', 60_000);
    const offline = await agent.stop('SIGTERM');
    expect(offline.code).toBe(0);
    const stopped = agent.lines.find((l) => l.msg === 'agent stopped')!;
    const atStop = readOutbox(dataDir);
    expect(atStop.integrity).toBe('ok');
    expect(atStop.dropped['disk-full:predictions']).toBeGreaterThan(0);

    const controller: ControllerHandle = await startController({ dataDir: join(dir, 'controller-capped'), ports: { mqtt: port }, logFile: join(dir, 'controller-capped.log') });
    cleanup.push(() => controller.stop());
    // enrolled once the controller exists: the offline run above never reached a broker
    const passwordFile = await controller.enroll(deviceId);
    agent = runAgent(dir, 'capped-drain', agentConfig({ ...common, speed: 'max', maxRows: 24, exitWhenDone: true, passwordFile }, { ...extra, forwarder: { drainRatePerSecond: 5_000 } }));
    const done = await agent.waitFor('agent done', 90_000);
    const final = readOutbox(dataDir);
    expect(final).toMatchObject({ lastSeq: done['lastSeq'], depth: 0, integrity: 'ok' });
    const droppedTotal = Object.values(final.dropped).reduce((n, c) => n + c, 0);

    const detail = await until('the last heartbeat and every delivered seq', async () => {
      const d = await deviceDetail(controller, deviceId);
      return d.device.seq.max === final.lastSeq && d.device.delivery.dropped.total === droppedTotal ? d : undefined;
    });
    // drops by reason as the device counted them; the seqs missing here are exactly the dropped ones
    expect(detail.device.delivery.dropped.byReason).toEqual(final.dropped);
    expect(detail.device.seq.missing).toBe(droppedTotal);
    const gaps = await controller.get<{ seqGaps: { gaps: { first: number; last: number }[]; truncated: boolean } }>(
      `/api/v1/devices/${deviceId}?gaps=1000`,
    );
    expect(gaps.seqGaps.truncated).toBe(false);
    expect(gaps.seqGaps.gaps.reduce((n, g) => n + g.last - g.first + 1, 0)).toBe(droppedTotal);
    // every alert and machine event both runs raised is stored
    const critical = Number(stopped['alerts']) + Number(stopped['events']) + Number(done['alerts']) + Number(done['events']);
    expect((detail.stored.records['alerts'] ?? 0) + (detail.stored.records['events'] ?? 0)).toBe(critical);
    expect((await controller.get<IngestTotals>('/api/v1/ingest')).conflicts).toBe(0);
    console.log(JSON.stringify({ proof: 'file-cap', maxFileBytes: 384 * 1024, committed: final.lastSeq, dropped: final.dropped, critical }));
  });
});

describe('an agent whose outbox is corrupt at start', () => {
  it('sets it aside, reports it in the heartbeat, and goes on above the seqs it may have used', { timeout: 120_000 }, async () => {
    const deviceId = 'gw-corrupt';
    const dataDir = join(dir, deviceId);
    const controller: ControllerHandle = await startController({ dataDir: join(dir, 'controller-corrupt'), logFile: join(dir, 'controller-corrupt.log') });
    cleanup.push(() => controller.stop());
    const passwordFile = await controller.enroll(deviceId);
    const config = (rows: number) => agentConfig({
      deviceId, machineId: 4, brokerUrl: controller.mqttUrl, dataDir, speed: 'max', maxRows: rows, exitWhenDone: true, heartbeatSeconds: 1, passwordFile,
    });
    let agent = runAgent(dir, 'corrupt-1', config(100));
    cleanup.push(() => agent.stop('SIGKILL'));
    const first = Number((await agent.waitFor('agent done', 60_000))['lastSeq']);
    await agent.exited;
    const reserved = (JSON.parse(readFileSync(join(dataDir, `${OUTBOX}.seq`), 'utf8')) as { reservedThrough: number }).reservedThrough;
    expect(reserved).toBeGreaterThan(first);
    // the file's header is overwritten: SQLite no longer recognises it as a database
    writeFileSync(join(dataDir, OUTBOX), Buffer.alloc(4096, 0x5a));
    rmSync(join(dataDir, `${OUTBOX}-wal`), { force: true });

    agent = runAgent(dir, 'corrupt-2', config(50));
    const quarantined = await agent.waitFor('outbox quarantined', 60_000);
    expect(quarantined).toMatchObject({ level: 50, reason: 'SQLITE_NOTADB' });
    const second = Number((await agent.waitFor('agent done', 60_000))['lastSeq']);
    expect(readdirSync(dataDir)).toContain(quarantined['movedTo']);

    const detail = await until('the quarantine in the device view', async () => {
      const d = await deviceDetail(controller, deviceId);
      return d.device.delivery.quarantined.length === 1 && d.device.seq.max === second ? d : undefined;
    });
    expect(detail.device.delivery.quarantined[0]).toMatchObject({ movedTo: quarantined['movedTo'], reason: 'SQLITE_NOTADB' });
    // new seqs start above the reservation the old database had written: a gap, never a reused seq
    expect(second).toBeGreaterThan(reserved);
    expect(detail.seqGaps.gaps).toEqual([{ first: first + 1, last: reserved }]);
    expect(detail.device.seq.stored).toBe(first + (second - reserved));
    expect((await controller.get<IngestTotals>('/api/v1/ingest')).conflicts).toBe(0);
  });
});

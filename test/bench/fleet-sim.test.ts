/**
 * The fleet simulator the benchmarks use (bench/sim/sim-device.ts) against the real built controller:
 * what it sends must be what an agent sends, or the benchmarks measure nothing. A handful of devices
 * with short intervals; every status and record must be accepted and stored, none counted invalid.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBenchController, type BenchController } from '../../bench/lib/controller.js';
import { SimDevice, type SimCounters } from '../../bench/sim/sim-device.js';

const root = mkdtempSync(join(tmpdir(), 'pdm-fleet-sim-'));
let ctl: BenchController;
const counters: SimCounters = { connects: 0, statuses: 0, records: 0, publishErrors: 0, commands: 0 };
const devices: SimDevice[] = [];

beforeAll(async () => {
  ctl = await startBenchController({ dataDir: join(root, 'controller') });
});

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await ctl?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('five simulated agents: statuses, prediction batches and metric windows are all stored, in seq order, none invalid', async () => {
  for (let i = 0; i < 5; i++) {
    const d = new SimDevice({
      deviceId: `sim-${i}`, url: ctl.mqttUrl, assetClass: 'press', site: `site-${i % 2}`, heartbeatMs: 300, predictionsMs: 100, metricsMs: 250,
      keepaliveSeconds: 30, reconnectMs: 1000,
    }, counters);
    devices.push(d);
    d.start();
  }
  await until('every device published 3 statuses and 10 records', () => counters.statuses >= 15 && counters.records >= 50);
  await Promise.all(devices.map((d) => d.stop()));
  const sent = counters.records;
  const db = new Database(join(ctl.dataDir, 'controller.db'), { readonly: true });
  try {
    await until('every acknowledged record stored', () => (db.prepare('SELECT count(*) FROM records').pluck().get() as number) === sent);
    const perDevice = db.prepare(`SELECT r.device_id AS id, count(*) AS n, max(r.seq) AS maxSeq, p.contiguous_seq AS contiguous
      FROM records r JOIN record_progress p USING (device_id) GROUP BY r.device_id ORDER BY r.device_id`).all() as { id: string; n: number; maxSeq: number; contiguous: number }[];
    expect(perDevice.map((d) => d.id)).toEqual(['sim-0', 'sim-1', 'sim-2', 'sim-3', 'sim-4']);
    for (const d of perDevice) expect([d.n, d.contiguous]).toEqual([d.maxSeq, d.maxSeq]);
    const kinds = db.prepare('SELECT kind, count(*) AS n FROM records GROUP BY kind ORDER BY kind').all() as { kind: string; n: number }[];
    expect(kinds.map((k) => k.kind)).toEqual(['metrics', 'predictions']);
    // the simulated devices send one prediction per batch: one batch row and one prediction per record
    const batches = db.prepare('SELECT count(*) AS n, sum(rows) AS rows FROM prediction_batches').get() as { n: number; rows: number };
    const predictionRecords = kinds.find((k) => k.kind === 'predictions')!.n;
    expect(batches).toEqual({ n: predictionRecords, rows: predictionRecords });
    expect(db.prepare('SELECT count(*) FROM metric_windows').pluck().get()).toBe(kinds.find((k) => k.kind === 'metrics')!.n);
    const shown = db.prepare("SELECT device_id AS id, asset_class AS assetClass, site, status_time AS time FROM devices ORDER BY device_id").all() as { id: string; assetClass: string; site: string; time: string }[];
    expect(shown.map((d) => [d.id, d.assetClass, d.site])).toEqual([0, 1, 2, 3, 4].map((i) => [`sim-${i}`, 'press', `site-${i % 2}`]));
    expect(db.prepare('SELECT count(*) FROM invalid_payloads').pluck().get()).toBe(0);
    expect(counters.publishErrors).toBe(0);
  } finally {
    db.close();
  }
}, 20_000);

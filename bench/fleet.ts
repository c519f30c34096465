/**
 * `npm run bench:fleet`: how many agents one controller on this machine serves with heartbeat-to-store
 * p99 under 1 s (issue 9; goal 10,000), with the controller's RSS and database growth per device-day.
 *
 * Simulated agents (bench/sim/sim-device.ts: real mqtt.js connections, protocol-encoded payloads, the
 * agent's intervals: status every 30 s (agent heartbeatSeconds default), a metric window per hour
 * (metricsWindowSeconds default 3600) and a prediction batch per hour (the reference model scores
 * hourly readings)) run in WORKERS processes and connect with random jitter. The fleet grows in steps;
 * at each, once every device is connected and a heartbeat period has passed, heartbeats are timed for
 * MEASURE_S seconds.
 *
 * Heartbeat-to-store: each status carries its send time (`time`, set just before publish, same clock:
 * one machine). This process reads the controller's database (read-only, WAL) every 100 ms and takes,
 * for every device whose stored status time changed, (time the new row was seen - send time): the
 * heartbeat is then committed and visible to any reader. This overstates by up to one poll interval
 * (100 ms), never understates. Also reported: `last_seen_at - time` (the controller's clock when ingest
 * applied the status, in the same synchronous step as its commit).
 *
 * Env: PDM_BENCH_STEPS (1000,2500,5000,10000), PDM_BENCH_WORKERS (4), PDM_BENCH_MEASURE_S (60),
 * PDM_BENCH_HEARTBEAT_S (30).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PdmError } from '@pdm/protocol';
import { controllerHasDeviceAuth, cpuSecondsOf, memoryOf, startBenchController, type BenchController } from './lib/controller.js';
import { SimWorker, addDevices, sleep, totals, waitConnected } from './lib/sim-workers.js';
import { loadNow, percentile, resultsSection, runHeader } from './results.js';

const STEPS = (process.env['PDM_BENCH_STEPS'] ?? '1000,2500,5000,10000').split(',').map(Number);
const WORKERS = Number(process.env['PDM_BENCH_WORKERS'] ?? 4);
const MEASURE_S = Number(process.env['PDM_BENCH_MEASURE_S'] ?? 60);
const HEARTBEAT_MS = Number(process.env['PDM_BENCH_HEARTBEAT_S'] ?? 30) * 1000;
const HOUR = 3_600_000;
const GOAL_MS = 1000;

/** Polls the devices table; collects a latency sample for every new heartbeat it sees. */
class HeartbeatProbe {
  private readonly db: Database.Database;
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  stored: number[] = [];
  ingested: number[] = [];

  constructor(file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
  }

  start(): void {
    const rows = this.db.prepare("SELECT device_id AS id, status_time AS time, last_seen_at AS seenAt FROM devices WHERE state = 'online'");
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const r of rows.all() as { id: string; time: string | null; seenAt: number | null }[]) {
        if (r.time === null || this.seen.get(r.id) === r.time) continue;
        const first = !this.seen.has(r.id);
        this.seen.set(r.id, r.time);
        if (first) continue; // a device's first row may predate this probe
        const sent = Date.parse(r.time);
        this.stored.push(now - sent);
        if (r.seenAt !== null) this.ingested.push(r.seenAt - sent);
      }
    }, 100);
  }

  take(): { stored: number[]; ingested: number[] } {
    const out = { stored: this.stored, ingested: this.ingested };
    this.stored = [];
    this.ingested = [];
    return out;
  }

  records(): number {
    return this.db.prepare('SELECT count(*) FROM records').pluck().get() as number;
  }

  /** Bytes of the database holding data (WAL content included: a reader's snapshot sees it). */
  dataBytes(): number {
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * (this.db.pragma('page_size', { simple: true }) as number);
  }

  stop(): void {
    clearInterval(this.timer);
    this.db.close();
  }
}

interface StepResult {
  devices: number;
  connected: number;
  rampSeconds: number;
  rampP99: number;
  samples: number;
  expectedSamples: number;
  p50: number;
  p99: number;
  max: number;
  ingestP99: number;
  controllerCpu: number;
  rssMiB: number;
  bytesPerDeviceDay: number;
  /** database bytes per stored record in the window (records are what grows; statuses update a row) */
  bytesPerRecord: number;
  simLagMs: number;
  reconnects: number;
}

async function step(ctl: BenchController, workers: SimWorker[], probe: HeartbeatProbe, target: number, current: number): Promise<StepResult> {
  const add = target - current;
  // new devices connect spread over ~1 s per 200 (at least 10 s): jitter, not a thundering herd
  const spreadMs = Math.max(10_000, (add / 200) * 1000);
  addDevices(workers, add, spreadMs);
  const rampSeconds = await waitConnected(workers, target, 300_000);
  const ramp = probe.take();
  // one heartbeat period for the connect burst to pass, then the measured window
  await sleep(HEARTBEAT_MS);
  probe.take();
  for (const w of workers) w.maxLagMs = 0;
  const pid = ctl.program.pid!;
  const cpu0 = cpuSecondsOf(pid);
  const bytes0 = probe.dataBytes();
  const records0 = probe.records();
  const connects0 = totals(workers).connects;
  const t0 = Date.now();
  await sleep(MEASURE_S * 1000);
  const seconds = (Date.now() - t0) / 1000;
  const { stored, ingested } = probe.take();
  const grown = probe.dataBytes() - bytes0;
  const records = probe.records() - records0;
  const t = totals(workers);
  const devices = t.devices;
  return {
    devices, connected: t.connected, rampSeconds, rampP99: percentile(ramp.stored, 99), samples: stored.length,
    expectedSamples: Math.round((devices * seconds * 1000) / HEARTBEAT_MS), p50: percentile(stored, 50), p99: percentile(stored, 99),
    max: Math.max(...stored), ingestP99: percentile(ingested, 99), controllerCpu: (cpuSecondsOf(pid) - cpu0) / seconds,
    rssMiB: memoryOf(pid).rss / 2 ** 20, bytesPerDeviceDay: (grown / devices / seconds) * 86_400, bytesPerRecord: records > 0 ? grown / records : Number.NaN,
    simLagMs: Math.max(...workers.map((w) => w.maxLagMs)), reconnects: t.connects - connects0,
  };
}

async function main(): Promise<void> {
  const loadAtStart = loadNow();
  const work = mkdtempSync(join(tmpdir(), 'pdm-bench-fleet-'));
  const stops: (() => Promise<void>)[] = [];
  const results: StepResult[] = [];
  try {
    const ctl = await startBenchController({ dataDir: join(work, 'controller'), extraArgs: ['--log-level', 'warn'] });
    stops.push(() => ctl.stop());
    const probe = new HeartbeatProbe(join(ctl.dataDir, 'controller.db'));
    probe.start();
    stops.push(async () => probe.stop());
    let current = 0;
    const workers: SimWorker[] = [];
    for (const target of STEPS) {
      while (workers.length < WORKERS) {
        const w = new SimWorker(workers.length, { url: ctl.mqttUrl, heartbeatMs: HEARTBEAT_MS, predictionsMs: HOUR, metricsMs: HOUR, spreadMs: 10_000 });
        workers.push(w);
        stops.push(() => w.stop());
      }
      const r = await step(ctl, workers, probe, target, current);
      results.push(r);
      current = target;
      process.stderr.write(`[bench:fleet] ${JSON.stringify(r)}\n`);
      if (r.connected < target) break;
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => process.stderr.write(`[bench:fleet] stop failed: ${String(err)}\n`));
    rmSync(work, { recursive: true, force: true });
  }
  report(results, loadAtStart);
}

function report(results: readonly StepResult[], loadAtStart: string): void {
  if (results.length === 0) throw new PdmError('INTERNAL', 'no fleet step completed');
  const ok = results.filter((r) => r.connected >= r.devices && r.p99 < GOAL_MS && r.samples >= r.expectedSamples * 0.9);
  const largest = ok.at(-1)?.devices ?? 0;
  const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');
  const body = `Command: \`npm run bench:fleet\` (\`tsc -b\`, then bench/fleet.ts; \`ulimit -n\` raised in the script).
${runHeader(loadAtStart)}
Fleet: simulated agents in ${WORKERS} worker processes (real mqtt.js connections as the agent makes them, protocol-encoded
payloads, no ONNX): status every ${HEARTBEAT_MS / 1000} s, a prediction batch and a metric window per hour each, connecting with random
jitter (about 200 new devices per second). Device authentication: ${controllerHasDeviceAuth() ? '`--device-auth none` (the simulated devices hold no credentials)' : 'none (this controller build has no device authentication switch; its embedded broker is open)'}.
Per step: wait until every device is connected, one heartbeat period, then ${MEASURE_S} s measured.
Heartbeat-to-store = (time a reader polling the controller's database every 100 ms first sees the stored status) -
(the status's send time): an upper bound, up to 100 ms high. "ingest" = controller clock when ingest applied it - send time.

| devices | connected | ramp s | p99 during ramp ms | heartbeats timed (expected) | p50 ms | p99 ms | max ms | ingest p99 ms | controller CPU (cores) | controller RSS MiB | DB growth per device-day | DB bytes per record | sim event-loop p99 max ms | reconnects |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${results.map((r) => `| ${r.devices} | ${r.connected} | ${r.rampSeconds.toFixed(0)} | ${ms(r.rampP99)} | ${r.samples} (${r.expectedSamples}) | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${ms(r.ingestP99)} | ${r.controllerCpu.toFixed(2)} | ${r.rssMiB.toFixed(0)} | ${(r.bytesPerDeviceDay / 1024).toFixed(1)} KiB | ${r.bytesPerRecord.toFixed(0)} | ${ms(r.simLagMs)} | ${r.reconnects} |`).join('\n')}

- largest fleet with heartbeat-to-store p99 < 1 s (all connected, >= 90% of heartbeats seen): ${largest} devices (goal 10,000: ${largest >= 10_000 ? 'met' : 'MISSED'}).
`;
  resultsSection('Fleet: devices per controller (issue 9)', body);
  process.stdout.write(`${body}\n`);
}

await main();

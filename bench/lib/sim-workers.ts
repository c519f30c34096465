/**
 * Processes of simulated agents (bench/sim/fleet-worker.ts) driven from a benchmark: add devices,
 * read each process's counters (one JSON line a second), stop them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DeployCounters } from '../sim/sim-deployer.js';

const simDir = fileURLToPath(new URL('../sim/', import.meta.url));

export interface SimWorkerConfig {
  readonly url: string;
  readonly heartbeatMs: number;
  readonly predictionsMs: number;
  readonly metricsMs: number;
  readonly spreadMs: number;
  readonly rollout?: Record<string, unknown>;
}

/** A worker's counts: its devices' traffic, and the deployment counters of its simulated deployers. */
export interface WorkerReport extends DeployCounters {
  devices: number;
  connected: number;
  connects: number;
  statuses: number;
  records: number;
  publishErrors: number;
  lagP99Ms: number;
  rss: number;
}

const ZERO: WorkerReport = {
  devices: 0, connected: 0, connects: 0, statuses: 0, records: 0, publishErrors: 0, lagP99Ms: 0, rss: 0, deploys: 0, rejected: 0, chunks: 0,
  chunkRetries: 0, active: 0, hashFailures: 0,
};

export class SimWorker {
  readonly child: ChildProcess;
  last: WorkerReport | undefined;
  maxLagMs = 0;

  constructor(index: number, config: SimWorkerConfig) {
    const args = [join(simDir, 'fleet-worker.ts'), JSON.stringify({ ...config, prefix: `sim${index}` })];
    this.child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.last = JSON.parse(line) as WorkerReport;
      this.maxLagMs = Math.max(this.maxLagMs, this.last.lagP99Ms);
    });
  }

  /** Starts n more devices, connecting over [0, spreadMs). */
  add(n: number, spreadMs: number): void {
    this.send({ add: n, spreadMs });
  }

  private send(msg: object): void {
    this.child.stdin!.write(`${JSON.stringify(msg)}\n`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.send({ stop: true });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sums of the workers' last reports (the event-loop delay: the largest). */
export function totals(workers: readonly SimWorker[]): WorkerReport {
  const t = { ...ZERO };
  for (const w of workers) {
    const r = w.last;
    if (r === undefined) continue;
    for (const k of Object.keys(t) as (keyof WorkerReport)[]) t[k] = k === 'lagP99Ms' ? Math.max(t[k], r[k]) : t[k] + r[k];
  }
  return t;
}

/** Spreads n new devices over the workers. */
export function addDevices(workers: readonly SimWorker[], n: number, spreadMs: number): void {
  workers.forEach((w, i) => w.add(Math.floor(n / workers.length) + (i < n % workers.length ? 1 : 0), spreadMs));
}

/** Waits until `target` devices are connected or `timeoutMs` passed; returns the seconds waited. */
export async function waitConnected(workers: readonly SimWorker[], target: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (totals(workers).connected >= target) break;
    await sleep(500);
  }
  return (Date.now() - t0) / 1000;
}

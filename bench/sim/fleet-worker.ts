/**
 * A process of simulated agents for bench/fleet.ts (several run side by side). argv[2]: JSON
 * {url, prefix, heartbeatMs, predictionsMs, metricsMs, spreadMs}. Reads JSON lines on stdin:
 * `{"add": n, "spreadMs": ms}` starts n more devices, each connecting after a random delay in [0, ms);
 * `{"stop": true}` ends every connection and exits. Writes a JSON line of counters every second,
 * with this process's event-loop delay p99, so a simulator too busy to send on time shows.
 */
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { keySetSchema, trustedKeysFrom, type Status, type TrustedKeys } from '@pdm/protocol';
import { SimDeployer, type DeployCounters, type DeployerConfig } from './sim-deployer.js';
import { SimDevice, type SimCounters } from './sim-device.js';

interface WorkerConfig {
  readonly url: string;
  readonly prefix: string;
  readonly heartbeatMs: number;
  readonly predictionsMs: number;
  readonly metricsMs: number;
  readonly spreadMs: number;
  /** Rollout simulation: devices take `deploy` commands (sim-deployer.ts) with these keys and settings. */
  readonly rollout?: DeployerConfig & {
    readonly keySetFile: string;
    /** Share of devices that drop their connection once mid-download. */
    readonly dropFraction: number;
    readonly models: Status['models'];
  };
}

const config = JSON.parse(process.argv[2]!) as WorkerConfig;
const counters: SimCounters = { connects: 0, statuses: 0, records: 0, publishErrors: 0, commands: 0 };
const devices: SimDevice[] = [];
const deployCounters: DeployCounters = { deploys: 0, rejected: 0, chunks: 0, chunkRetries: 0, active: 0, hashFailures: 0 };
const deployers: SimDeployer[] = [];
const trusted: TrustedKeys | undefined = config.rollout === undefined ? undefined : trustedKeysFrom(keySetSchema.parse(JSON.parse(readFileSync(config.rollout.keySetFile, 'utf8'))));
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

const deployerOf = new Map<SimDevice, SimDeployer>();

function add(n: number, spreadMs: number): void {
  for (let i = 0; i < n; i++) {
    const d = new SimDevice({
      deviceId: `${config.prefix}-${devices.length}`, url: config.url, assetClass: `class-${devices.length % 5}`, site: `site-${devices.length % 3}`,
      heartbeatMs: config.heartbeatMs, predictionsMs: config.predictionsMs, metricsMs: config.metricsMs, keepaliveSeconds: 30,
      reconnectMs: 1000 + Math.floor(Math.random() * 4000),
    }, counters, (device, command) => {
      if (command.type === 'deploy') deployerOf.get(device)?.handle(command);
    });
    devices.push(d);
    const r = config.rollout;
    if (r !== undefined && trusted !== undefined) {
      d.models = r.models;
      const deployer = new SimDeployer(d, trusted, { ...r, dropAfterChunks: Math.random() < r.dropFraction ? r.dropAfterChunks : 0 }, deployCounters);
      deployers.push(deployer);
      deployerOf.set(d, deployer);
    }
    setTimeout(() => d.start(), Math.random() * spreadMs);
  }
}

const report = setInterval(() => {
  const connected = devices.reduce((n, d) => n + (d.connected ? 1 : 0), 0);
  process.stdout.write(`${JSON.stringify({ devices: devices.length, connected, ...counters, ...deployCounters, lagP99Ms: lag.percentile(99) / 1e6, rss: process.memoryUsage.rss() })}\n`);
  lag.reset();
}, 1000);

createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line) as { add?: number; spreadMs?: number; stop?: boolean };
  if (msg.add !== undefined) add(msg.add, msg.spreadMs ?? config.spreadMs);
  if (msg.stop === true) {
    clearInterval(report);
    void Promise.all(devices.map((d) => d.stop())).finally(() => process.exit(0));
  }
});

/**
 * `npm run demo`: a real fleet on the embedded defaults. One controller (embedded MQTT broker, SQLite,
 * HTTP API, dashboard) and one agent process per Azure PdM machine in the repo's data, each replaying
 * that machine's hourly telemetry (Jan-Mar 2015) through the reference model, accelerated. While the
 * replay runs, the controller publishes and rolls out models (see rollouts.ts).
 *
 * `npm run demo -- --exit` ends after the scenario: exit code 0 only if every device delivered every
 * record it produced (controller's contiguous seq == the agent's last seq, no gaps) and every rollout
 * ended as the scenario expects.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  azureAgentConfig, azureDir, azureTelemetry, repoRoot, startAgent, startController, writeJson, type ControllerHandle,
} from '../test/helpers/fleet.js';
import type { LogLine, Program } from '../test/helpers/process.js';
import { RolloutScenario, type ScenarioResult } from './rollouts.js';
import { printTable } from './table.js';

const { values: args } = parseArgs({
  options: {
    exit: { type: 'boolean', default: false },
    machines: { type: 'string', default: '15' },
    speed: { type: 'string', default: '43200' },
    'no-rollouts': { type: 'boolean', default: false },
    'http-port': { type: 'string', default: '8080' },
    'data-dir': { type: 'string', default: join(repoRoot, '.data/demo') },
  },
});

const machineCount = Number(args.machines);
const speed = Number(args.speed);
if (!Number.isInteger(machineCount) || machineCount < 1 || machineCount > 15) throw new Error('--machines must be 1..15');
if (!(speed > 0)) throw new Error('--speed must be a positive number');

/** The fields of GET /api/v1/devices the demo reads. */
interface DeviceView {
  deviceId: string;
  state: 'unknown' | 'online' | 'offline';
  seq: { contiguous: number; max: number; stored: number; missing: number };
  counters: { readings?: number } | null;
  models: { name: string; version: string; role: string }[];
}

/** Rows per machine in the telemetry file and failures per machine in the same period. */
function dataFacts(): { rows: Map<number, number>; failures: Map<number, number>; end: string } {
  const rows = new Map<number, number>();
  let end = '';
  for (const line of readFileSync(azureTelemetry, 'utf8').split('\n').slice(1)) {
    const [time, machine] = line.split(',');
    if (machine === undefined || time === undefined) continue;
    rows.set(Number(machine), (rows.get(Number(machine)) ?? 0) + 1);
    if (time > end) end = time;
  }
  const failures = new Map<number, number>();
  for (const line of readFileSync(join(azureDir, 'PdM_failures.csv'), 'utf8').split('\n').slice(1)) {
    const [time, machine] = line.split(',');
    if (time === undefined || machine === undefined || time > end) continue;
    failures.set(Number(machine), (failures.get(Number(machine)) ?? 0) + 1);
  }
  return { rows, failures, end };
}

async function main(): Promise<number> {
  const facts = dataFacts();
  rmSync(args['data-dir'], { recursive: true, force: true });
  const hours = Math.max(...facts.rows.values());
  console.log(`pdm demo: ${machineCount} machines, ${hours} h of hourly telemetry each, replayed at ${speed}x ` +
    `(${(hours * 3600 / speed).toFixed(0)} s of replay per machine)`);

  const controllerDir = join(args['data-dir'], 'controller');
  const controller = await startController({
    dataDir: controllerDir,
    ports: { http: Number(args['http-port']) },
    logFile: join(args['data-dir'], 'controller.log'),
    extraArgs: ['--rollout-tick-ms', '500', '--rollout-resend-sec', '5', '--command-timeout-ms', '5000'],
  });
  console.log(`controller: dashboard ${controller.httpUrl}/  API ${controller.httpUrl}/api/v1  docs ${controller.httpUrl}/docs`);
  console.log(`            MQTT ${controller.mqttUrl}  MQTT/WS ${controller.wsUrl}  admin token in ${join(controllerDir, 'admin.token')}`);
  console.log(`            devices log in with their own passwords (pdmctl devices enroll), written to ${join(controllerDir, 'device-passwords')}`);

  const agents = new Map<string, { machine: number; program: Program }>();
  for (let machine = 1; machine <= machineCount; machine++) {
    const deviceId = `gw-m${machine}`;
    const dataDir = join(args['data-dir'], deviceId);
    mkdirSync(dataDir, { recursive: true });
    const site = machine <= 8 ? 'plant-a' : 'plant-b';
    // each device gets its own MQTT password from the controller, as `pdmctl devices enroll` would
    const passwordFile = await controller.enroll(deviceId, { assetId: `machine-${machine}`, site });
    const config = {
      ...azureAgentConfig({ deviceId, machineId: machine, brokerUrl: controller.mqttUrl, dataDir, speed, heartbeatSeconds: 2, site, passwordFile }),
      // trust the controller's signing key; a short trial so rollouts move at demo speed
      trust: { keySetFile: join(controllerDir, 'keys', 'trust.json') },
      updates: { trial: { inferences: 10, latencyBudgetMs: 1000 } },
    };
    const program = startAgent(deviceId, writeJson(join(dataDir, 'agent.json'), config), {
      logFile: join(args['data-dir'], `${deviceId}.log`),
    });
    agents.set(deviceId, { machine, program });
  }

  const totalRows = [...agents.values()].reduce((s, a) => s + (facts.rows.get(a.machine) ?? 0), 0);
  const started = Date.now();
  const progress = setInterval(() => void showProgress(controller, totalRows, started), args['no-rollouts'] ? 2000 : 15_000);
  const scenario: Promise<ScenarioResult | undefined> = args['no-rollouts']
    ? Promise.resolve(undefined)
    : Promise.all([...agents.values()].map((a) => a.program.waitFor('agent ready', 60_000)))
      .then(() => new RolloutScenario(controller, readFileSync(join(controllerDir, 'admin.token'), 'utf8').trim(), [...agents.keys()]).run());
  const done = await Promise.all(
    [...agents.entries()].map(async ([id, a]) => {
      const [line, exit] = await Promise.all([a.program.waitFor('agent done', 600_000).catch(() => undefined), a.program.exited]);
      return { id, machine: a.machine, line, exit };
    }),
  );
  const rollouts = await scenario;
  clearInterval(progress);
  // let the last acknowledged records land in the controller's database
  const devices = await settle(controller, done);
  const delivered = summarise(done, devices, facts.failures);
  if (rollouts !== undefined) {
    console.log('');
    printTable(['rollout', 'expected', 'ended'], rollouts.rollouts.map((r) => [r.id, r.expected, r.state]));
  }
  const ok = delivered && (rollouts?.ok ?? true);
  console.log(`\nreplay finished in ${((Date.now() - started) / 1000).toFixed(1)} s; logs in ${args['data-dir']}`);

  if (args.exit) {
    await controller.stop();
    console.log(ok ? 'every device delivered everything it produced and every rollout ended as expected'
      : 'SCENARIO INCOMPLETE: see the tables above');
    return ok ? 0 : 1;
  }
  console.log(`\nThe controller keeps running: ${controller.httpUrl}/api/v1/devices  (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  await controller.stop();
  return ok ? 0 : 1;
}

async function showProgress(controller: ControllerHandle, totalRows: number, started: number): Promise<void> {
  try {
    const { devices } = await controller.get<{ devices: DeviceView[] }>('/api/v1/devices');
    const readings = devices.reduce((s, d) => s + (d.counters?.readings ?? 0), 0);
    const online = devices.filter((d) => d.state === 'online').length;
    const delivered = devices.reduce((s, d) => s + d.seq.contiguous, 0);
    const share = Math.min(1, readings / totalRows);
    const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
    process.stdout.write(`[${bar}] ${(share * 100).toFixed(0).padStart(3)}%  ${online} online  ` +
      `${delivered} records stored  ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  } catch {
    // the controller may be busy; progress is best effort
  }
}

type Done = { id: string; machine: number; line: LogLine | undefined; exit: { code: number | null } };

/** Waits until the controller has stored up to each agent's last seq, or 10 s have passed. */
async function settle(controller: ControllerHandle, done: Done[]): Promise<Map<string, DeviceView>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { devices } = await controller.get<{ devices: DeviceView[] }>('/api/v1/devices');
    const byId = new Map(devices.map((d) => [d.deviceId, d]));
    const complete = done.every((d) => byId.get(d.id)?.seq.contiguous === Number(d.line?.['lastSeq'] ?? -1));
    if (complete || Date.now() > deadline) return byId;
    await new Promise((r) => setTimeout(r, 250));
  }
}

function summarise(done: Done[], devices: Map<string, DeviceView>, failures: Map<number, number>): boolean {
  let ok = true;
  const rows = done.map((d) => {
    const view = devices.get(d.id);
    const lastSeq = Number(d.line?.['lastSeq'] ?? NaN);
    const delivered = d.exit.code === 0 && view?.seq.contiguous === lastSeq && view.seq.missing === 0;
    ok &&= delivered;
    return [
      d.id, `machine-${d.machine}`, d.line?.['readings'] ?? '-', d.line?.['predictions'] ?? '-', d.line?.['alerts'] ?? '-',
      failures.get(d.machine) ?? 0, d.line?.['events'] ?? '-', view?.models.find((m) => m.role === 'active')?.version ?? '-',
      Number.isNaN(lastSeq) ? '-' : lastSeq, view?.seq.contiguous ?? '-',
      delivered ? 'all delivered' : `MISSING (exit ${d.exit.code})`,
    ];
  });
  console.log('');
  printTable(
    ['device', 'asset', 'readings', 'predictions', 'alerts', 'failures in data', 'events (fail+maint)', 'model at end', 'records', 'stored', 'delivery'],
    rows,
  );
  return ok;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

/**
 * `npm run bench:rollout`: a ~300 KB model rolled out to 1,000 simulated agents over MQTT, time until
 * all run it (issue 9; goal under 60 s; AWS IoT Jobs rolls out at most 1,000 devices a minute).
 *
 * The controller (controller/dist/main.js, embedded broker) publishes models/artifacts/
 * ai4i-machine-failure/1.0.0 (model.onnx 317,495 bytes + card.json) and rolls it out (by default in one stage of 100%) to
 * every device (no soak, default gates: every device of a stage committed, no failure). The simulated
 * agents (bench/sim/sim-deployer.ts, in WORKERS processes) check each signed manifest with the
 * controller's trusted keys, fetch the artifacts in 64 KiB chunks over up/fetch + down/chunk, verify
 * the sha256, and report received, downloading, installed, trial, committed, then their status with
 * the new model active.
 *
 * Convergence: LATE of the devices connect only after the rollout started (they join it as they come);
 * DROP of the devices lose their connection once, after 2 chunks of their download, reconnect (1-5 s)
 * and resume at the offset reached.
 *
 * Times from the rollout's creation: every device active (the simulators' count), every device shown
 * active in the controller's database (its stored status), and the rollout `completed`.
 * Env: PDM_BENCH_DEVICES (1000), PDM_BENCH_WORKERS (4), PDM_BENCH_LATE (0.05), PDM_BENCH_DROP (0.05),
 * PDM_BENCH_TIMEOUT_S (300), PDM_BENCH_STAGES (100: one stage; e.g. 10,50,100).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { PdmError } from '@pdm/protocol';
import { repoRoot } from '../test/helpers/fleet.js';
import { controllerHasDeviceAuth, cpuSecondsOf, memoryOf, startBenchController, type BenchController } from './lib/controller.js';
import { SimWorker, addDevices, sleep, totals, waitConnected } from './lib/sim-workers.js';
import { loadNow, resultsSection, runHeader } from './results.js';

const DEVICES = Number(process.env['PDM_BENCH_DEVICES'] ?? 1000);
const WORKERS = Number(process.env['PDM_BENCH_WORKERS'] ?? 4);
const LATE = Number(process.env['PDM_BENCH_LATE'] ?? 0.05);
const DROP = Number(process.env['PDM_BENCH_DROP'] ?? 0.05);
const MODEL = { name: 'ai4i-machine-failure', version: '1.0.0' };
/** What the devices run before the rollout: the same model published as an older version. */
const BEFORE = '0.9.0';
const modelDir = join(repoRoot, 'models/artifacts', MODEL.name, MODEL.version);
const GOAL_S = 60;
/** Stage sizes in percent of the fleet, each with no soak and the default gates (PDM_BENCH_STAGES, e.g. 10,50,100). */
const STAGES = (process.env['PDM_BENCH_STAGES'] ?? '100').split(',').map(Number);
const TIMEOUT_MS = Number(process.env['PDM_BENCH_TIMEOUT_S'] ?? 300) * 1000;

async function api<T>(ctl: BenchController, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${ctl.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new PdmError('INTERNAL', `${method} ${path}: HTTP ${res.status}`, { context: { body: json } });
  return json;
}

/** Devices whose stored status runs the candidate as the active model. */
function activeInDatabase(db: Database.Database): number {
  const rows = db.prepare('SELECT models FROM devices').pluck().all() as string[];
  return rows.filter((m) => (JSON.parse(m) as { name: string; version: string; role: string; trial?: boolean }[])
    .some((x) => x.name === MODEL.name && x.version === MODEL.version && x.role === 'active' && x.trial !== true)).length;
}

interface Outcome {
  simAllActiveS: number | undefined;
  dbAllActiveS: number | undefined;
  completedS: number | undefined;
  lateAllActiveS: number | undefined;
  state: string;
  timeline: string[];
}

async function main(): Promise<void> {
  const loadAtStart = loadNow();
  const work = mkdtempSync(join(tmpdir(), 'pdm-bench-rollout-'));
  const stops: (() => Promise<void>)[] = [];
  try {
    const ctl = await startBenchController({ dataDir: join(work, 'controller'), extraArgs: ['--log-level', 'warn'] });
    stops.push(() => ctl.stop());
    const token = readFileSync(join(ctl.dataDir, 'admin.token'), 'utf8').trim();
    const card = JSON.parse(readFileSync(join(modelDir, 'card.json'), 'utf8')) as Record<string, unknown>;
    const modelBytes = readFileSync(join(modelDir, 'model.onnx'));
    // the version the devices run before (the rollout must be able to roll them back to it): same bytes, older version
    await api(ctl, token, 'POST', '/api/v1/models', { ...MODEL, version: BEFORE, card: { ...card, version: BEFORE }, model: modelBytes.toString('base64'), reason: 'bench:rollout baseline' });
    await api(ctl, token, 'POST', '/api/v1/models', { ...MODEL, card, model: modelBytes.toString('base64'), reason: 'bench:rollout' });

    const rollout = {
      keySetFile: join(ctl.dataDir, 'keys', 'trust.json'), dropFraction: DROP, dropAfterChunks: 2, chunkBytes: 64 * 1024, chunkTimeoutMs: 10_000,
      models: [{ name: MODEL.name, version: BEFORE, role: 'active' }],
    };
    const workers: SimWorker[] = [];
    for (let i = 0; i < WORKERS; i++) {
      const w = new SimWorker(i, { url: ctl.mqttUrl, heartbeatMs: 30_000, predictionsMs: 3_600_000, metricsMs: 3_600_000, spreadMs: 10_000, rollout });
      workers.push(w);
      stops.push(() => w.stop());
    }
    const late = Math.round(DEVICES * LATE);
    const onTime = DEVICES - late;
    addDevices(workers, onTime, 10_000);
    await waitConnected(workers, onTime, 120_000);
    await sleep(2000); // every on-time status stored before the rollout targets "all"

    const pid = ctl.program.pid!;
    const cpu0 = cpuSecondsOf(pid);
    const t0 = Date.now();
    const created = await api<{ rollout: { id: string } }>(ctl, token, 'POST', '/api/v1/rollouts', {
      target: { all: true }, model: MODEL, mode: 'alert', reason: 'bench:rollout',
      stages: STAGES.map((percent) => ({ percent, soakSeconds: 0, timeoutSeconds: 600 })),
    });
    // the late devices connect while the rollout runs, spread over 10 s from 5 s in
    setTimeout(() => addDevices(workers, late, 10_000), 5_000);
    const outcome = await watch(ctl, token, created.rollout.id, workers, t0);
    const cpuS = cpuSecondsOf(pid) - cpu0;
    report({ outcome, cpuS, rssMiB: memoryOf(pid).rss / 2 ** 20, workers, late, modelBytes: modelBytes.byteLength, loadAtStart });
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => process.stderr.write(`[bench:rollout] stop failed: ${String(err)}\n`));
    rmSync(work, { recursive: true, force: true });
  }
}

async function watch(ctl: BenchController, token: string, id: string, workers: readonly SimWorker[], t0: number): Promise<Outcome> {
  const db = new Database(join(ctl.dataDir, 'controller.db'), { readonly: true, fileMustExist: true });
  const out: Outcome = { simAllActiveS: undefined, dbAllActiveS: undefined, completedS: undefined, lateAllActiveS: undefined, state: 'unknown', timeline: [] };
  let nextMark = 5;
  let stateAt = 0;
  try {
    while (Date.now() - t0 < TIMEOUT_MS) {
      await sleep(250);
      const s = (Date.now() - t0) / 1000;
      const t = totals(workers);
      const inDb = activeInDatabase(db);
      // the state from the list (a row count per rollout), not the detail, which judges every device
      // (~10% of the controller's CPU when asked each second: the benchmark's own load); once a second
      if (Date.now() - stateAt >= 1000) {
        stateAt = Date.now();
        const { rollouts } = await api<{ rollouts: { id: string; state: string }[] }>(ctl, token, 'GET', '/api/v1/rollouts?limit=5');
        out.state = rollouts.find((x) => x.id === id)?.state ?? 'unknown';
      }
      const r = { state: out.state };
      if (out.simAllActiveS === undefined && t.active >= DEVICES) out.simAllActiveS = s;
      if (out.dbAllActiveS === undefined && inDb >= DEVICES) out.dbAllActiveS = s;
      if (out.completedS === undefined && r.state === 'completed') out.completedS = s;
      if (s >= nextMark) {
        out.timeline.push(`${nextMark} s: ${t.connected} connected, ${t.active} active (devices), ${inDb} active (controller), ${t.chunks} chunks, rollout ${r.state}`);
        process.stderr.write(`[bench:rollout] ${out.timeline.at(-1)}\n`);
        nextMark += 5;
      }
      if (['rolled-back', 'paused', 'aborted'].includes(r.state)) break;
      if (out.simAllActiveS !== undefined && out.dbAllActiveS !== undefined && out.completedS !== undefined) break;
    }
  } finally {
    db.close();
  }
  return out;
}

function report(r: { outcome: Outcome; cpuS: number; rssMiB: number; workers: readonly SimWorker[]; late: number; modelBytes: number; loadAtStart: string }): void {
  const o = r.outcome;
  const t = totals(r.workers);
  const secs = (x: number | undefined): string => (x === undefined ? `not within ${TIMEOUT_MS / 1000} s` : `${x.toFixed(1)} s`);
  const worst = Math.max(o.simAllActiveS ?? Infinity, o.dbAllActiveS ?? Infinity);
  const body = `Command: \`npm run bench:rollout\` (\`tsc -b\`, then bench/rollout.ts).
${runHeader(r.loadAtStart)}
Model: ${MODEL.name} ${MODEL.version} (model.onnx ${r.modelBytes} bytes + card.json), published to the controller, rolled out to every
device in stages of ${STAGES.join('%, ')}% (soakSeconds 0, default gates: every device of a stage committed, no failure). ${DEVICES} simulated agents in ${r.workers.length} processes: signed manifest checked with the
controller's trusted keys (protocol openEnvelope), artifacts fetched in 64 KiB chunks over MQTT, sha256 verified,
deployment statuses reported, status with the new model active. Differences from the agent: bytes hashed as they arrive
(no partial file, no fsync), and the trial passes at once (no ONNX). ${r.late} devices (${(LATE * 100).toFixed(0)}%) connect only 5-15 s
after the rollout started; ${(DROP * 100).toFixed(0)}% drop their connection once after 2 chunks and resume after reconnecting.
Device authentication: ${controllerHasDeviceAuth() ? '`--device-auth none`' : 'none (this controller build has no switch; its embedded broker is open)'}.

| from the rollout's creation | time |
|---|---:|
| every device runs the new model (simulators' count) | ${secs(o.simAllActiveS)} |
| every device shown active in the controller's database | ${secs(o.dbAllActiveS)} |
| rollout state \`completed\` | ${secs(o.completedS)} (final state: ${o.state}) |

- all ${DEVICES} active: ${Number.isFinite(worst) ? `${worst.toFixed(1)} s` : 'not reached'} (goal < ${GOAL_S} s: ${worst < GOAL_S ? 'met' : 'MISSED'}).
- devices: ${t.active} active, ${t.deploys} deployments taken, ${t.rejected} manifests refused, ${t.chunks} chunks, ${t.chunkRetries} chunk requests
  asked again, ${t.hashFailures} hash failures, ${t.connects - DEVICES} reconnects; simulator event-loop p99 at most ${Math.max(...r.workers.map((w) => w.maxLagMs)).toFixed(0)} ms.
- controller: ${r.cpuS.toFixed(1)} CPU-seconds during the rollout, RSS ${r.rssMiB.toFixed(0)} MiB at the end.

Timeline (every 5 s):
${o.timeline.map((l) => `- ${l}`).join('\n')}
`;
  resultsSection(`Rollout of a 300 KB model to 1,000 devices, stages ${STAGES.join('/')}% (issue 9)`, body);
  process.stdout.write(`${body}\n`);
}

await main();

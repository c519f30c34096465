/**
 * `npm run bench:ingest`: controller ingest against Mosquitto's bare pub/sub rate on loopback, in one run
 * (issue 9). Goal: the controller at >= 0.5x.
 *
 * The same publishers (DEVICES mqtt.js clients in this process, clientId = deviceId, QoS 1, a window of
 * 64 unacknowledged publishes each) send the same encoded records (prediction batches and metric
 * windows, 3:1) to three consumers; a run's rate is messages / (first publish -> last message consumed):
 *
 * - baseline: Mosquitto 2 (Debian) -> a bare mqtt.js subscriber in its own process that only counts
 *   (bench/sim/bare-subscriber.ts); consumed = counted.
 * - embedded: the controller's embedded aedes broker -> ingest (decode, schema, deviceId check,
 *   idempotent store with per-kind rows, gap progress, presence) -> SQLite; consumed = stored, seen
 *   by polling the controller's database read-only every 20 ms.
 * - external: a second Mosquitto -> the controller as an MQTT 5 client on a shared subscription ->
 *   ingest -> SQLite; consumed = stored.
 *
 * - embedded, device auth on: as embedded, with `--device-auth credentials` (the production setting):
 *   each run's devices are enrolled through the API before they connect with their passwords, so
 *   the broker's ACL runs for every publish. Printed as an extra line, not in the headline table.
 *
 * Each run measures the consumers back to back in a rotating order, with fresh device ids; a ratio is the
 * median of the per-run ratios. Consumer CPU per message is read from /proc. Env: PDM_BENCH_RUNS (5),
 * PDM_BENCH_DEVICES (20), PDM_BENCH_PER_DEVICE (1000), PDM_BENCH_BATCH (unset: the mix above, the section's
 * headline; an integer n in 1..1000: prediction batches of n scores only, e.g. 64 as the agent sends them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { z } from 'zod';
import { MAX_PREDICTIONS_PER_BATCH, PdmError, encodePayload, topicFor } from '@pdm/protocol';
import { enrollDevice } from '../test/helpers/fleet.js';
import { cpuSecondsOf, memoryOf, startBenchController } from './lib/controller.js';
import { Mosquitto } from './lib/mosquitto.js';
import { ingestWorkload, predictionBatch, type Message } from './lib/records.js';
import { loadNow, median, ratioVerdict, resultsSection, runHeader } from './results.js';

const RUNS = Number(process.env['PDM_BENCH_RUNS'] ?? 5);
const DEVICES = Number(process.env['PDM_BENCH_DEVICES'] ?? 20);
const PER_DEVICE = Number(process.env['PDM_BENCH_PER_DEVICE'] ?? 1000);
const N = DEVICES * PER_DEVICE;
const BATCH = batchFromEnv(process.env['PDM_BENCH_BATCH']);
const WINDOW = 64;
const GOAL = 0.5;
const here = fileURLToPath(new URL('.', import.meta.url));

/** PDM_BENCH_BATCH: unset, or the scores per prediction batch, as many as the protocol allows at most. */
function batchFromEnv(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const parsed = z.coerce.number().int().min(1).max(MAX_PREDICTIONS_PER_BATCH).safeParse(raw.trim() === '' ? Number.NaN : raw);
  if (parsed.success) return parsed.data;
  throw new PdmError('CONFIG_INVALID', `PDM_BENCH_BATCH must be an integer from 1 to ${MAX_PREDICTIONS_PER_BATCH} (scores per prediction batch)`, {
    context: { value: raw, problems: parsed.error.issues.map((i) => i.message) },
  });
}

interface Consumer {
  readonly name: 'baseline' | 'embedded' | 'external' | 'embedded-auth';
  readonly url: string;
  readonly pid: number;
  /** A controller's event-loop delay file (ingest-loop-probe.mjs). */
  readonly loopFile?: string;
  /** Resolves with the time (ms) the consumer had taken in `total` messages since it started. */
  consumed(total: number): Promise<number>;
  /** Enrolls these devices and returns their passwords (a broker with device auth on); absent: anonymous. */
  enroll?: (deviceIds: readonly string[]) => Promise<Map<string, string>>;
}

interface Sample {
  readonly rate: number;
  /** consumer CPU microseconds per message, all threads (the main thread's share is in `sched`) */
  readonly cpuUs: number;
  /** A controller's main-thread event-loop delay p99 of each second of the run, ms. */
  readonly loopP99: number[];
  /** Microseconds per message the threads were on a CPU or runnable but waiting for one (schedstat). */
  readonly sched: ThreadTimes;
}

interface ThreadTimes {
  mainRun: number;
  mainWait: number;
  otherRun: number;
  otherWait: number;
}

/** Nanoseconds on a CPU and waiting in the run queue, main thread vs the others (Linux /proc/<pid>/task/<tid>/schedstat). */
function threadTimes(pid: number): ThreadTimes {
  const t: ThreadTimes = { mainRun: 0, mainWait: 0, otherRun: 0, otherWait: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let fields: number[];
    try {
      fields = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    } catch {
      continue; // the thread ended meanwhile
    }
    if (Number(tid) === pid) {
      t.mainRun += fields[0]!;
      t.mainWait += fields[1]!;
    } else {
      t.otherRun += fields[0]!;
      t.otherWait += fields[1]!;
    }
  }
  return t;
}

/** The probe's seconds that ended within [from, to]. */
function loopDelays(file: string | undefined, from: number, to: number): number[] {
  if (file === undefined || !existsSync(file)) return [];
  // every second that ends inside [from, to], including the one that began before `from`: a run now
  // takes ~1-3 s, and counting only the seconds wholly inside it left many runs with none
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { at: number; p99: number })
    .filter((s) => s.at > from && s.at <= to).map((s) => s.p99);
}

// ---- publishers

/** The mix of bench/lib/records.ts, or prediction batches of BATCH scores only (the agent's real message shape). */
function workload(prefix: string): Message[][] {
  if (BATCH === undefined) return ingestWorkload(prefix, DEVICES, PER_DEVICE);
  const at = Date.parse('2026-01-05T06:00:00.000Z');
  return Array.from({ length: DEVICES }, (_d, d) => Array.from({ length: PER_DEVICE }, (_m, i) => ({
    topic: topicFor(`${prefix}-${d}`, 'predictions'),
    payload: encodePayload('predictions', predictionBatch(`${prefix}-${d}`, i + 1, at + i * 60_000, BATCH)),
  })));
}

function workloadNote(): string {
  if (BATCH === undefined) return 'prediction batches of 4 scores and\nmetric windows, 3:1, 330-560 bytes';
  const bytes = [1, PER_DEVICE].map((seq) => encodePayload('predictions', predictionBatch(`r${RUNS}-embedded-0`, seq, Date.now(), BATCH)).length);
  return `prediction batches of ${BATCH} scores only\n(the agent's batch size), ${Math.min(...bytes)}-${Math.max(...bytes)} bytes`;
}

async function connectAll(url: string, ids: readonly string[], passwords?: Map<string, string>): Promise<MqttClient[]> {
  return Promise.all(ids.map((id) => mqtt.connectAsync(url, {
    clientId: id, clean: true, protocolVersion: 4, reconnectPeriod: 0,
    ...(passwords === undefined ? {} : { username: id, password: passwords.get(id) }),
  })));
}

/** Enrolls devices through a controller's API (admin token from its data dir); their passwords by deviceId. */
function enroller(httpUrl: string, dataDir: string): (deviceIds: readonly string[]) => Promise<Map<string, string>> {
  return async (deviceIds) => {
    const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    const issued = await Promise.all(deviceIds.map(async (id) => [id, (await enrollDevice(httpUrl, token, id)).password] as const));
    return new Map(issued);
  };
}

/** Publishes each client's list QoS 1 with at most WINDOW unacknowledged; resolves on the last PUBACK. */
function publishAll(clients: readonly MqttClient[], lists: readonly Message[][]): Promise<void> {
  return Promise.all(clients.map((client, c) => new Promise<void>((resolve, reject) => {
    const list = lists[c]!;
    let next = 0;
    let acked = 0;
    const send = (): void => {
      const m = list[next++]!;
      client.publish(m.topic, m.payload, { qos: 1 }, (err) => {
        if (err !== undefined && err !== null) return reject(err);
        acked++;
        if (acked === list.length) resolve();
        else if (next < list.length) send();
      });
    };
    for (let i = 0; i < Math.min(WINDOW, list.length); i++) send();
  }))).then(() => undefined);
}

// ---- consumers

async function bareSubscriber(url: string): Promise<{ consumer: Consumer; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'sim/bare-subscriber.ts'), url, String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const counts: { count: number; at: number }[] = [];
  const waiters: (() => void)[] = [];
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.on('line', (line) => {
    counts.push(JSON.parse(line) as { count: number; at: number });
    waiters.splice(0).forEach((w) => w());
  });
  const consumed = async (total: number): Promise<number> => {
    for (;;) {
      const hit = counts.find((c) => c.count >= total);
      if (hit !== undefined) return hit.at;
      await withTimeout(new Promise<void>((resolve) => waiters.push(resolve)), 120_000, 'bare subscriber');
    }
  };
  return { consumer: { name: 'baseline', url, pid: child.pid!, consumed }, child };
}

function storedRecords(dataDir: string): (total: number) => Promise<number> {
  let db: Database.Database | undefined;
  return async (total) => {
    db ??= new Database(join(dataDir, 'controller.db'), { readonly: true, fileMustExist: true });
    const count = db.prepare('SELECT count(*) FROM records').pluck();
    const deadline = Date.now() + 120_000;
    for (;;) {
      if ((count.get() as number) >= total) return Date.now();
      if (Date.now() > deadline) throw new PdmError('INTERNAL', 'controller did not store every record in time', { context: { total } });
      await new Promise((r) => setTimeout(r, 20));
    }
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PdmError('INTERNAL', `${what}: no progress in ${ms} ms`)), ms);
    }),
  ]);
}

async function measure(consumer: Consumer, run: number, already: number): Promise<Sample> {
  const lists = workload(`r${run}-${consumer.name}`);
  const ids = lists.map((l) => l[0]!.topic.split('/')[2]!);
  const clients = await connectAll(consumer.url, ids, await consumer.enroll?.(ids));
  const cpu0 = cpuSecondsOf(consumer.pid);
  const sched0 = threadTimes(consumer.pid);
  const t0 = Date.now();
  await publishAll(clients, lists);
  const end = await consumer.consumed(already + N);
  const cpu = cpuSecondsOf(consumer.pid) - cpu0;
  const sched1 = threadTimes(consumer.pid);
  const perMsg = (k: keyof ThreadTimes): number => (sched1[k] - sched0[k]) / 1000 / N;
  const sched = { mainRun: perMsg('mainRun'), mainWait: perMsg('mainWait'), otherRun: perMsg('otherRun'), otherWait: perMsg('otherWait') };
  await Promise.all(clients.map((c) => c.endAsync()));
  return { rate: (N / (end - t0)) * 1000, cpuUs: (cpu * 1e6) / N, loopP99: loopDelays(consumer.loopFile, t0, end), sched };
}

async function main(): Promise<void> {
  const loadAtStart = loadNow();
  const work = mkdtempSync(join(tmpdir(), 'pdm-bench-ingest-'));
  // everything started is stopped in reverse order, also when a later start fails
  const stops: (() => Promise<void>)[] = [];
  try {
    const bareBroker = new Mosquitto();
    stops.push(() => bareBroker.stop());
    await bareBroker.start();
    const extBroker = new Mosquitto();
    stops.push(() => extBroker.stop());
    await extBroker.start();
    const bare = await bareSubscriber(bareBroker.url);
    stops.push(async () => {
      bare.child.kill('SIGTERM');
      if (bare.child.exitCode === null) await once(bare.child, 'exit');
    });
    const probe = (name: string) => ({ NODE_OPTIONS: `--import ${join(here, 'ingest-loop-probe.mjs')}`, PDM_BENCH_LOOP_FILE: join(work, `${name}.loop`) });
    // an idle Node process with the same probe: how late timers fire here anyway (a loaded machine)
    const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], { stdio: 'ignore', env: { ...process.env, ...probe('idle') } });
    stops.push(async () => {
      idle.kill('SIGTERM');
      if (idle.exitCode === null) await once(idle, 'exit');
    });
    const embedded = await startBenchController({ dataDir: join(work, 'embedded'), env: probe('embedded') });
    stops.push(() => embedded.stop());
    const external = await startBenchController({
      dataDir: join(work, 'external'),
      env: probe('external'),
      extraArgs: ['--broker-mode', 'external', '--broker-url', extBroker.url, '--broker-client-id', 'pdm-bench', '--broker-shared-group', 'pdm'],
    });
    stops.push(() => external.stop());
    const authed = await startBenchController({ dataDir: join(work, 'embedded-auth'), env: probe('embedded-auth'), extraArgs: ['--device-auth', 'credentials'] });
    stops.push(() => authed.stop());
    const consumers: Consumer[] = [
      bare.consumer,
      { name: 'embedded', url: embedded.mqttUrl, pid: embedded.program.pid!, consumed: storedRecords(embedded.dataDir), loopFile: join(work, 'embedded.loop') },
      { name: 'external', url: external.mqttUrl, pid: external.program.pid!, consumed: storedRecords(external.dataDir), loopFile: join(work, 'external.loop') },
      {
        name: 'embedded-auth', url: authed.mqttUrl, pid: authed.program.pid!, consumed: storedRecords(authed.dataDir), loopFile: join(work, 'embedded-auth.loop'),
        enroll: enroller(authed.httpUrl, authed.dataDir),
      },
    ];
    const samples = new Map<Consumer['name'], Sample[]>(consumers.map((c) => [c.name, []]));
    const measuredFrom = Date.now();
    // warm-up run, not counted: JIT in every process, SQLite caches, Mosquitto's first sessions
    for (const c of consumers) await measure(c, -1, 0);
    for (let run = 0; run < RUNS; run++) {
      for (let k = 0; k < consumers.length; k++) {
        const c = consumers[(run + k) % consumers.length]!;
        samples.get(c.name)!.push(await measure(c, run, (run + 1) * N));
        process.stderr.write(`[bench:ingest] run ${run} ${c.name}: ${samples.get(c.name)!.at(-1)!.rate.toFixed(0)} msg/s\n`);
      }
    }
    const rss = { embedded: memoryOf(embedded.program.pid!).rss, external: memoryOf(external.program.pid!).rss };
    report(samples, rss, loadAtStart, loopDelays(join(work, 'idle.loop'), measuredFrom, Date.now()));
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => process.stderr.write(`[bench:ingest] stop failed: ${String(err)}\n`));
    rmSync(work, { recursive: true, force: true });
  }
}

function report(samples: Map<Consumer['name'], Sample[]>, rss: { embedded: number; external: number }, loadAtStart: string, idleLoop: number[]): void {
  const base = samples.get('baseline')!;
  const ratio = (name: Consumer['name']): number => median(samples.get(name)!.map((s, i) => s.rate / base[i]!.rate));
  const row = (label: string, name: Consumer['name']): string => {
    const s = samples.get(name)!;
    const loop = s.flatMap((x) => x.loopP99);
    const loopCell = loop.length === 0 ? '-' : `${median(loop).toFixed(1)} / ${Math.max(...loop).toFixed(1)}`;
    return `| ${label} | ${median(s.map((x) => x.rate)).toFixed(0)} | ${s.map((x) => x.rate.toFixed(0)).join(', ')} | ${median(s.map((x) => x.cpuUs)).toFixed(0)} | ${loopCell} |`;
  };
  const schedRow = (label: string, name: Consumer['name']): string => {
    const s = samples.get(name)!;
    const m = (k: keyof ThreadTimes): string => median(s.map((x) => x.sched[k])).toFixed(0);
    return `| ${label} | ${m('mainRun')} | ${m('mainWait')} | ${m('otherRun')} | ${m('otherWait')} |`;
  };
  const body = `Command: \`npm run bench:ingest\` (\`tsc -b\`, then bench/ingest.ts; controller = controller/dist/main.js in its own process).
${runHeader(loadAtStart)}
Workload: ${DEVICES} publishing devices x ${PER_DEVICE} records = ${N} messages per run (${workloadNote()}, encoded with the protocol codec), QoS 1, a window of ${WINDOW} unacknowledged publishes
per device. ${RUNS} runs after a warm-up; in each, the four consumers (the table's three, the device-auth one of the line below it) back to back in a rotating order, fresh device ids.
Rate = messages / (first publish -> last message consumed): counted by the bare subscriber, or stored (seen in
the controller's database, polled read-only every 20 ms). Device authentication: ${controllerAuthNote()}.
Event-loop delay: the controller's main thread, monitorEventLoopDelay (5 ms resolution) preloaded by bench/ingest-loop-probe.mjs,
p99 of each second ending inside a measured run; an idle Node process with the same probe, over the same time, had
${idleLoop.length === 0 ? '-' : `${median(idleLoop).toFixed(1)} / ${Math.max(...idleLoop).toFixed(1)}`} ms (median second / worst second): timers fire that late here anyway.

| consumer | median msg/s | runs msg/s | consumer CPU us/msg (median, all threads; the main thread's share below) | controller event-loop delay p99 ms (median second / worst second) |
|---|---:|---|---:|---:|
${row('baseline: Mosquitto -> bare mqtt.js subscriber (counts only)', 'baseline')}
${row('controller, embedded aedes broker -> ingest -> SQLite', 'embedded')}
${row('controller on an external Mosquitto (MQTT 5 shared subscription) -> ingest -> SQLite', 'external')}

Time per message of the consumer's threads (median of the runs, us; from /proc/<pid>/task/*/schedstat): on a CPU, and
runnable but waiting for a CPU (the 2 cores are shared with the publishers, the broker and whatever else runs).

| consumer | main thread on CPU | main thread waiting for a CPU | other threads on CPU | other threads waiting for a CPU |
|---|---:|---:|---:|---:|
${schedRow('baseline', 'baseline')}
${schedRow('controller, embedded broker', 'embedded')}
${schedRow('controller, external Mosquitto', 'external')}

- embedded broker: ${ratioVerdict(ratio('embedded'), GOAL, 'ge')}
- external Mosquitto: ${ratioVerdict(ratio('external'), GOAL, 'ge')}
- ${authLine(samples.get('embedded-auth')!, ratio('embedded-auth'), samples.get('embedded')!)}
- controller RSS at the end: embedded ${(rss.embedded / 2 ** 20).toFixed(0)} MiB, external ${(rss.external / 2 ** 20).toFixed(0)} MiB
  (the controller's database holds ${(RUNS + 1) * N} records by then).
`;
  // the section's table is the headline mix; another batch size is a line of its notes, written by hand
  if (BATCH === undefined) resultsSection('Controller ingest vs Mosquitto bare pub/sub (issue 9)', body);
  process.stdout.write(`${body}\n`);
}

/** The embedded broker with device auth on, against the same broker with it off, measured in the same runs. */
function authLine(authed: readonly Sample[], ratio: number, open: readonly Sample[]): string {
  const main = (s: readonly Sample[]): string => median(s.map((x) => x.sched.mainRun)).toFixed(0);
  return `embedded broker with device auth on (\`--device-auth credentials\`, each run's devices enrolled through the API before they
  connect; measured in the same rotation, not in the table): median ${median(authed.map((x) => x.rate)).toFixed(0)} msg/s
  (runs ${authed.map((x) => x.rate.toFixed(0)).join(', ')}), ${ratio.toFixed(2)}x the baseline; main thread on CPU ${main(authed)} us/msg
  (auth off: ${main(open)}), consumer CPU ${median(authed.map((x) => x.cpuUs)).toFixed(0)} us/msg (auth off: ${median(open.map((x) => x.cpuUs)).toFixed(0)})`;
}

function controllerAuthNote(): string {
  return 'the embedded broker of the table runs with `--device-auth none` when the controller has that switch (these devices hold no credentials; the line below the table has it on); the external Mosquitto allows anonymous clients';
}

await main();

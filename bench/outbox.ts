/**
 * `npm run bench:outbox`: the outbox against the plainest way of doing the same work, in one run, and
 * the result in bench/RESULTS.md (issue 4).
 *
 * - Durable ingest: SqliteOutbox.commit of drafts in batches of 100 (schema validation, JSON, seq,
 *   insert, caps, counters) vs raw better-sqlite3 inserting the same records, JSON.stringify'd, into a
 *   table of the same columns, 100 rows per transaction. Both WAL; the raw side at the synchronous
 *   level the outbox uses for the same records. Goal: the outbox at >= 0.5x.
 * - Drain with PUBACK: the Forwarder (+ MqttLink) publishing a filled SqliteOutbox to an aedes broker
 *   in another process and deleting each record after its PUBACK vs a bare mqtt.js QoS 1 publish
 *   loop of the same payloads to the same broker, with the same in-flight window. Goal: >= 0.8x.
 *   The forwarder runs without its drain-rate limit: the limit is a deliberate throttle, not overhead.
 *
 * Each measurement runs RUNS times back to back with its baseline (alternating which goes first); the
 * median of the per-pair ratios counts, since the machine is shared and its load moves.
 * Env: PDM_BENCH_RECORDS (ingest, default 30000), PDM_BENCH_DRAIN (default 20000), PDM_BENCH_RUNS (7).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { topicFor, type Status } from '@pdm/protocol';
import { Forwarder, MqttLink, SqliteOutbox, recordClassOf, systemClock, type RecordDraft } from '@pdm/agent';
// the built agent (tsc output, what runs on a device), not its sources through tsx, whose keepNames
// wrappers cost a property definition per closure created
import { outboxConfigSchema, outboxSettings } from '../agent/dist/outbox/config.js';

const INGEST = Number(process.env['PDM_BENCH_RECORDS'] ?? 30_000);
const DRAIN = Number(process.env['PDM_BENCH_DRAIN'] ?? 20_000);
const RUNS = Number(process.env['PDM_BENCH_RUNS'] ?? 7);
const BATCH = 100;
const WINDOW = 64;
const silent = pino({ level: 'silent' });
const here = fileURLToPath(new URL('.', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pdm-bench-'));
let files = 0;
const freshFile = () => join(dir, `b${files++}.sqlite`);

// ---- workload: what a paced agent commits (a prediction batch per reading, metric windows, a few alerts)

const T = '2015-01-05T06:00:00.000Z';
const model = { name: 'azure-pdm-failure-24h', version: '1.0.0' };
function draft(i: number, critical: boolean): RecordDraft {
  if (critical && i % 20 === 0) {
    return { kind: 'alerts', record: { time: T, assetId: 'machine-1', model, score: 0.81, threshold: 0.42, severity: 'warning', windowEnd: T, message: 'score 0.81 >= threshold 0.42' } };
  }
  if (i % 4 === 0) {
    return {
      kind: 'metrics',
      record: {
        time: T, assetId: 'machine-1', windowStart: T, windowEnd: T, readings: 24, rejectedReadings: { 'out-of-range': 1 }, inferences: 23,
        inferenceErrors: 0, alerts: 0, latencyMs: { p50: 0.1, p95: 0.2, max: 0.4 }, model,
      },
    };
  }
  return {
    kind: 'predictions',
    record: {
      time: T, assetId: 'machine-1', model, role: 'active', horizonHours: 24, threshold: 0.42,
      predictions: Array.from({ length: 4 }, (_, k) => ({ t: T, score: (i % 97) / 100 + k / 1000, alert: false })),
    },
  };
}
const workload = (n: number, critical: boolean): RecordDraft[] => Array.from({ length: n }, (_, i) => draft(i, critical));

// ---- measuring: wall clock and this process's CPU time, since the machine is shared

interface Rate {
  readonly wall: number;
  /** records per CPU-second of this process: less disturbed by other programs on a shared machine */
  readonly cpu: number;
}

function measure(n: number, fn: () => void): Rate {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall: (n / ms) * 1000, cpu: (n / ((c.user + c.system) / 1000)) * 1000 };
}

// ---- ingest

function ingestOutbox(drafts: readonly RecordDraft[]): Rate {
  const outbox = new SqliteOutbox({
    file: freshFile(), deviceId: 'bench', ...outboxSettings(outboxConfigSchema.parse({})), clock: systemClock, log: silent,
  });
  outbox.start();
  const rate = measure(drafts.length, () => {
    for (let i = 0; i < drafts.length; i += BATCH) outbox.commit(drafts.slice(i, i + BATCH));
  });
  outbox.stop();
  return rate;
}

function ingestRaw(drafts: readonly RecordDraft[], synchronous: 'NORMAL' | 'FULL'): Rate {
  const db = new Database(freshFile());
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.exec('CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, class TEXT NOT NULL, committed_at INTEGER NOT NULL, payload BLOB NOT NULL) STRICT');
  const insert = db.prepare('INSERT INTO records (seq, kind, class, committed_at, payload) VALUES (?, ?, ?, ?, ?)');
  const rate = measure(drafts.length, () => {
    for (let i = 0; i < drafts.length; i += BATCH) {
      const now = Date.now();
      db.transaction(() => {
        for (let j = i; j < Math.min(i + BATCH, drafts.length); j++) {
          const d = drafts[j]!;
          const seq = j + 1;
          insert.run(seq, d.kind, recordClassOf[d.kind], now, Buffer.from(JSON.stringify({ deviceId: 'bench', seq, ...d.record }), 'utf8'));
        }
      })();
    }
  });
  db.close();
  return rate;
}

// ---- drain

async function startBroker(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'aedes-broker.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const { port } = JSON.parse(line) as { port: number };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

function filledOutbox(deviceId: string, drafts: readonly RecordDraft[]): SqliteOutbox {
  const outbox = new SqliteOutbox({ file: freshFile(), deviceId, synchronous: 'NORMAL', clock: systemClock, log: silent });
  outbox.start();
  for (let i = 0; i < drafts.length; i += BATCH) outbox.commit(drafts.slice(i, i + BATCH));
  return outbox;
}

async function drainForwarder(url: string, outbox: SqliteOutbox, deviceId: string): Promise<Rate> {
  const will: Status = {
    deviceId, state: 'offline', reason: 'lost', time: T, agentVersion: '0', bootId: 'b', assetId: 'a', assetClass: 'c', site: 's', models: [], lastSeq: 0,
  };
  const link = new MqttLink({
    config: { deviceId, brokerUrl: url, keepaliveSeconds: 60, connectTimeoutMs: 5_000, reconnectInitialMs: 100, reconnectMaxMs: 1_000 },
    will: () => will, clock: systemClock, log: silent,
  });
  const forwarder = new Forwarder({ outbox, link, config: { maxInFlight: WINDOW }, log: silent });
  const n = outbox.stats().depth;
  let t0 = 0;
  let c0 = process.cpuUsage();
  link.onUp(() => {
    t0 = performance.now();
    c0 = process.cpuUsage();
  });
  forwarder.start();
  link.start();
  await forwarder.drained();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  await forwarder.stop();
  await link.stop();
  outbox.stop();
  return { wall: (n / ms) * 1000, cpu: (n / ((c.user + c.system) / 1000)) * 1000 };
}

async function drainBare(url: string, payloads: readonly { topic: string; payload: Buffer }[], window: number): Promise<Rate> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-bare-${window}`, clean: true, reconnectPeriod: 0, protocolVersion: 4 });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let acked = 0;
    let open = 0;
    const pump = (): void => {
      while (open < window && next < payloads.length) {
        const { topic, payload } = payloads[next++]!;
        open++;
        client.publish(topic, payload, { qos: 1 }, (err) => {
          if (err) return reject(err);
          open--;
          if (++acked === payloads.length) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  await client.endAsync();
  return { wall: (payloads.length / ms) * 1000, cpu: (payloads.length / ((c.user + c.system) / 1000)) * 1000 };
}

// ---- run

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number): number => Math.round(x);

interface Pairs {
  subject: Rate[];
  baseline: Rate[];
}
const pairs = (): Pairs => ({ subject: [], baseline: [] });

function ingestRuns(): { ingest: Pairs; ingestMixed: Pairs } {
  const routine = workload(INGEST, false);
  const mixed = workload(INGEST, true);
  ingestOutbox(routine.slice(0, 5_000)); // warm-up: JIT, zod, SQLite
  ingestRaw(routine.slice(0, 5_000), 'NORMAL');
  const ingest = pairs();
  const ingestMixed = pairs();
  for (let i = 0; i < RUNS; i++) {
    // alternate which side goes first, so a change in the machine's load hits both alike
    if (i % 2 === 0) {
      ingest.subject.push(ingestOutbox(routine));
      ingest.baseline.push(ingestRaw(routine, 'NORMAL'));
    } else {
      ingest.baseline.push(ingestRaw(routine, 'NORMAL'));
      ingest.subject.push(ingestOutbox(routine));
    }
    ingestMixed.subject.push(ingestOutbox(mixed));
    ingestMixed.baseline.push(ingestRaw(mixed, 'FULL'));
  }
  return { ingest, ingestMixed };
}

async function drainRuns(url: string): Promise<{ drain: Pairs; unbounded: Rate[] }> {
  const drain = pairs();
  const unbounded: Rate[] = [];
  const drainDrafts = workload(DRAIN, false);
  for (let i = 0; i < RUNS; i++) {
    const deviceId = `bench-${i}`;
    const outbox = filledOutbox(deviceId, drainDrafts);
    // the bare loop publishes exactly the bytes the forwarder will
    const payloads = outbox.pending({ afterSeq: 0, limit: DRAIN }).map((e) => ({ topic: topicFor(`bare-${i}`, e.kind), payload: e.payload }));
    if (i % 2 === 0) {
      drain.subject.push(await drainForwarder(url, outbox, deviceId));
      drain.baseline.push(await drainBare(url, payloads, WINDOW));
    } else {
      drain.baseline.push(await drainBare(url, payloads, WINDOW));
      drain.subject.push(await drainForwarder(url, outbox, deviceId));
    }
    unbounded.push(await drainBare(url, payloads, Number.POSITIVE_INFINITY));
  }
  return { drain, unbounded };
}

async function main(): Promise<void> {
  // the ingest workload goes out of scope before the drain, so its heap does not slow the drain's GC
  const ingest = ingestRuns();
  const broker = await startBroker();
  try {
    report({ ...ingest, ...(await drainRuns(broker.url)) });
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median over runs of subject/baseline, each pair measured back to back. */
const pairedRatio = (p: Pairs, key: keyof Rate): number => median(p.subject.map((s, i) => s[key] / p.baseline[i]![key]));
const list = (rates: readonly Rate[], key: keyof Rate): string => rates.map((r) => round(r[key])).join(', ');
const verdict = (ratio: number, goal: number): string => `${ratio.toFixed(2)}x (goal >= ${goal}x: ${ratio >= goal ? 'met' : 'MISSED'})`;

function report(r: { ingest: Pairs; ingestMixed: Pairs; drain: Pairs; unbounded: Rate[] }): void {
  const row = (label: string, rates: readonly Rate[]): string =>
    `| ${label} | ${round(median(rates.map((x) => x.wall)))} | ${list(rates, 'wall')} | ${round(median(rates.map((x) => x.cpu)))} |`;
  const text = `# Outbox benchmark

Command: \`npm run bench:outbox\` (\`tsc -b\`, then bench/outbox.ts with tsx against the built packages; aedes in a
child process).
Run: ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average
${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end (the machine is shared: compare the paired ratios, not single rates).
Records: ${INGEST} per ingest run (commits of ${BATCH}), ${DRAIN} per drain run (window ${WINDOW}); ${RUNS} runs, each subject
run back to back with its baseline, alternating which goes first; a ratio is the median of the per-pair ratios.
Workload: what a paced agent commits: a prediction batch (4 scores) per reading, a metric window every 4th
record, and in the "mixed" case an alert every 20th record (payloads 300-560 bytes). The outbox runs with the
agent's default caps (age per class, 256 MiB), so the age checks are part of every commit.

## Durable ingest (records/s)

| | median (wall) | runs (wall) | median per CPU-second |
|---|---:|---|---:|
${row('SqliteOutbox.commit, routine records (synchronous NORMAL)', r.ingest.subject)}
${row('raw better-sqlite3, same rows JSON.stringify\'d, 100 per transaction, NORMAL', r.ingest.baseline)}
${row('SqliteOutbox.commit, mixed with alerts (NORMAL; FULL for commits holding a critical record)', r.ingestMixed.subject)}
${row('raw better-sqlite3, same rows, FULL', r.ingestMixed.baseline)}

- routine, wall clock: ${verdict(pairedRatio(r.ingest, 'wall'), 0.5)}; per CPU-second: ${pairedRatio(r.ingest, 'cpu').toFixed(2)}x
- mixed with alerts vs raw FULL, wall clock: ${pairedRatio(r.ingestMixed, 'wall').toFixed(2)}x

## Drain with PUBACK (records/s)

| | median (wall) | runs (wall) | median per CPU-second (client process) |
|---|---:|---|---:|
${row(`Forwarder + MqttLink from SqliteOutbox (delete after PUBACK), window ${WINDOW}`, r.drain.subject)}
${row(`bare mqtt.js QoS 1 loop, same payloads, window ${WINDOW}`, r.drain.baseline)}
${row('bare mqtt.js QoS 1, everything published at once (no window)', r.unbounded)}

- drain, wall clock: ${verdict(pairedRatio(r.drain, 'wall'), 0.8)}; per CPU-second: ${pairedRatio(r.drain, 'cpu').toFixed(2)}x

## Where the time goes (profiled with the V8 CPU profiler)

- Ingest: the outbox does what the raw loop does, plus validating every record against its protocol
  schema (zod's compiled parser: about as costly as JSON.stringify of the same record), a second b-tree
  (the per-class index that eviction and the critical lane read), and the caps and counters in the same
  transaction. Done: records are built header first, in the schema's key order, which made zod's
  parser ~2.5x faster on them; age checks read one row per class and skip empty classes.
- Drain: the forwarder reads every payload back from SQLite and deletes every record after its PUBACK
  (two b-trees); the bare loop holds its payloads in memory and writes nothing. Done: the forwarder
  reads a window ahead and refills on each PUBACK like the bare loop, lanes known to be empty are not
  queried, and acknowledged records are deleted in one statement per batch of at most 25 ms. What is
  left per record is the SQLite read and delete and MqttLink's promise per publish. Next, if the 0.8x
  goal matters more than simplicity: keep critical records in a table of their own and drop the class
  index (one b-tree per insert and delete), and delete from a worker thread.
`;
  writeSection(join(here, 'RESULTS.md'), text);
  process.stdout.write(text);
}

/** bench/RESULTS.md is shared by several benchmarks: replace only this one's top-level section. */
function writeSection(file: string, section: string): void {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const title = section.slice(0, section.indexOf('\n'));
  const lines = old.split('\n');
  const start = lines.indexOf(title);
  if (start < 0) {
    writeFileSync(file, `${section}\n${old}`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('# '));
  if (end < 0) end = lines.length;
  writeFileSync(file, [...lines.slice(0, start), ...section.split('\n'), ...lines.slice(end)].join('\n'));
}

await main();

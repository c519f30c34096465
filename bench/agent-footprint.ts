/**
 * `npm run bench:agent -- [--minutes 10] [--starts 5] [--speed 3600]`: the agent's footprint as a
 * single executable beside the same agent run from sources, in the same run on the same machine:
 *
 *   sea            build/pdm-agent-<v>-linux-x64/pdm-agent (Node 24 inside), unpacked in a temp dir
 *   node24-bundle  the same esbuild bundle run as a plain script by the same Node 24 (no SEA)
 *   node20-dist    node agent/dist/main.js with this machine's Node and node_modules ("from sources")
 *
 * Figures: what each needs on disk; start to first inference (spawn -> first prediction record at the
 * broker, replaying a 400-row CSV as fast as possible, median of --starts runs, variants interleaved);
 * RSS with one model after --minutes of replay (Azure PdM machine 1 at --speed, the three side by side,
 * sampled from /proc every 5 s). The broker is aedes in this process; it only counts. All three run
 * with the executable's V8 flags (SEA_EXEC_ARGV).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { parseTopic } from '@pdm/protocol';
import { buildAgent } from '../agent/packaging/build.js';
import { NODE_VERSION } from '../agent/packaging/node24.js';
import { SEA_EXEC_ARGV } from '../agent/packaging/sea.js';
import { azureAgentConfig, azureTelemetry, referenceModelDir, repoRoot } from '../test/helpers/fleet.js';

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    starts: { type: 'string', default: '5' },
    speed: { type: 'string', default: '3600' },
  },
});
const MINUTES = Number(flags.minutes);
const STARTS = Number(flags.starts);
const SPEED = Number(flags.speed);
const MiB = 1024 * 1024;

interface Variant {
  readonly name: 'sea' | 'node24-bundle' | 'node20-dist';
  readonly command: string;
  readonly args: readonly string[];
  readonly node: string;
}

interface Memory { rss: number; anon: number; file: number; hwm: number }

const work = mkdtempSync(join(tmpdir(), 'pdm-bench-agent-'));
const broker = await Aedes.createBroker({ concurrency: 1000 });
/** First prediction record per device, in performance.now() ms; publishes per device. */
const firstPrediction = new Map<string, number>();
const publishes = new Map<string, number>();
broker.on('publish', (packet) => {
  const topic = parseTopic(packet.topic);
  if (topic === undefined) return;
  publishes.set(topic.deviceId, (publishes.get(topic.deviceId) ?? 0) + 1);
  if (topic.kind === 'predictions' && !firstPrediction.has(topic.deviceId)) firstPrediction.set(topic.deviceId, performance.now());
});
const server = createServer(broker.handle);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const brokerUrl = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;

try {
  const built = await buildAgent({ say: (line) => process.stderr.write(`[build:agent] ${line}\n`) });
  const distMain = join(repoRoot, 'agent/dist/main.js');
  if (!existsSync(distMain)) throw new Error('agent/dist/main.js is missing: run npx tsc -b agent (npm run bench:agent does)');
  const unpacked = join(work, 'release');
  mkdirSync(unpacked);
  await run('tar', ['-xzf', built.tarball, '-C', unpacked]);
  const release = join(unpacked, built.name);
  // the bundle as a plain script: native/ beside it, as native-loader.ts expects outside a SEA
  const bundleDir = join(work, 'bundle');
  mkdirSync(bundleDir);
  copyFileSync(join(repoRoot, 'build/work/pdm-agent.cjs'), join(bundleDir, 'pdm-agent.cjs'));
  symlinkSync(join(release, 'native'), join(bundleDir, 'native'));
  const node24 = join(repoRoot, `build/cache/node-v${NODE_VERSION}-linux-x64/bin/node`);
  const variants: Variant[] = [
    { name: 'sea', command: join(release, 'pdm-agent'), args: [], node: `v${NODE_VERSION} (embedded)` },
    // the executable's own V8 flags (SEA_EXEC_ARGV) for the other two as well, so only packaging and Node differ
    { name: 'node24-bundle', command: node24, args: [...SEA_EXEC_ARGV, join(bundleDir, 'pdm-agent.cjs')], node: `v${NODE_VERSION}` },
    { name: 'node20-dist', command: process.execPath, args: [...SEA_EXEC_ARGV, distMain], node: process.version },
  ];

  const sizes = diskSizes(built, release);
  const starts = await measureStarts(variants);
  const memory = await measureMemory(variants);
  report({ sizes, starts, memory, variants, buildSeconds: built.seconds });
} finally {
  server.close();
  broker.close();
  rmSync(work, { recursive: true, force: true });
}

/** Bytes on disk: the release vs node + dist + the production node_modules the agent loads. */
function diskSizes(built: Awaited<ReturnType<typeof buildAgent>>, release: string): Record<string, number> {
  const seen = new Set<string>();
  const modules = [...dependencyClosure(join(repoRoot, 'agent'))].reduce((sum, dir) => sum + treeBytes(dir, seen, dir.includes('/@pdm/') || !dir.includes('node_modules')), 0);
  return {
    seaExecutable: built.bytes.executable,
    seaNative: built.bytes.native,
    seaUnpacked: treeBytes(release, new Set(), false),
    seaTarball: built.bytes.tarball,
    nodeBinary: statSync(realpathSync(process.execPath)).size,
    dist: treeBytes(join(repoRoot, 'agent/dist'), new Set(), false) + treeBytes(join(repoRoot, 'protocol/dist'), new Set(), false),
    nodeModules: modules,
  };
}

/** Package dirs the agent needs at run time: its dependencies, recursively (workspace packages: dist only). */
function dependencyClosure(pkgDir: string, out = new Set<string>()): Set<string> {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
  for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
    const dir = findPackage(pkgDir, name);
    if (dir === undefined || out.has(dir)) continue;
    out.add(dir);
    dependencyClosure(dir, out);
  }
  return out;
}

function findPackage(from: string, name: string): string | undefined {
  for (let dir = realpathSync(from); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

/** Sum of file sizes under dir (nested node_modules are counted as their own packages; workspaces: dist). */
function treeBytes(dir: string, seen: Set<string>, distOnly: boolean): number {
  if (seen.has(dir)) return 0;
  seen.add(dir);
  let sum = 0;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const st = lstatSync(path);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) {
      if (entry === 'node_modules' || (distOnly && entry !== 'dist')) continue;
      sum += treeBytes(path, seen, false);
    } else {
      sum += st.size;
    }
  }
  return sum;
}

/** A 400-row extract of machine 1, so start-up is measured, not CSV scanning. */
function shortCsv(): string {
  const file = join(work, 'machine1-400.csv');
  const [header, ...rows] = readFileSync(azureTelemetry, 'utf8').split('\n');
  const machine = header!.split(',').indexOf('machineID');
  writeFileSync(file, `${[header, ...rows.filter((r) => r.split(',')[machine] === '1').slice(0, 400)].join('\n')}\n`);
  return file;
}

async function measureStarts(variants: readonly Variant[]): Promise<Record<string, number[]>> {
  const csv = shortCsv();
  const out: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
  for (let round = 0; round < STARTS; round++) {
    // interleaved, rotating which goes first, so load on the shared machine hits all alike
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length]!;
      const deviceId = `start-${v.name}-${round}`;
      const config = agentConfig(deviceId, { source: { type: 'replay-csv', file: csv, filter: 'machineID=1', timeColumn: 'datetime', speed: 'max' } });
      const t0 = performance.now();
      const child = start(v, config);
      const deadline = Date.now() + 60_000;
      while (!firstPrediction.has(deviceId)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${v.name}: no prediction within 60 s`);
        await new Promise((r) => setTimeout(r, 2));
      }
      out[v.name]!.push(firstPrediction.get(deviceId)! - t0);
      await stop(child);
    }
  }
  return out;
}

async function measureMemory(variants: readonly Variant[]): Promise<Record<string, { samples: Memory[]; summary: Record<string, unknown> }>> {
  process.stderr.write(`[bench:agent] ${MINUTES} min of replay at speed ${SPEED}, ${variants.map((v) => v.name).join(', ')} side by side\n`);
  const runs = variants.map((v) => {
    const config = agentConfig(`rss-${v.name}`, {});
    const child = start(v, config);
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch { /* not a log line */ }
    });
    return { v, child, lines, samples: [] as Memory[] };
  });
  const endAt = Date.now() + MINUTES * 60_000;
  while (Date.now() < endAt) {
    await new Promise((r) => setTimeout(r, Math.min(5_000, Math.max(0, endAt - Date.now()))));
    for (const r of runs) {
      if (r.child.exitCode !== null) throw new Error(`${r.v.name} exited early: ${JSON.stringify(r.lines.slice(-3))}`);
      r.samples.push(memoryOf(r.child.pid!));
    }
    const minute = Math.round((MINUTES * 60_000 - (endAt - Date.now())) / 60_000);
    process.stderr.write(`[bench:agent] ${minute} min: ${runs.map((r) => `${r.v.name} ${(r.samples.at(-1)!.rss / MiB).toFixed(1)} MiB`).join(', ')}\r`);
  }
  process.stderr.write('\n');
  const out: Record<string, { samples: Memory[]; summary: Record<string, unknown> }> = {};
  for (const r of runs) {
    await stop(r.child);
    const summary = r.lines.find((l) => l['msg'] === 'agent stopped') ?? {};
    out[r.v.name] = { samples: r.samples, summary: { ...summary, published: publishes.get(`rss-${r.v.name}`) ?? 0 } };
  }
  return out;
}

function agentConfig(deviceId: string, over: Record<string, unknown>): string {
  const dataDir = join(work, deviceId);
  mkdirSync(dataDir, { recursive: true });
  const config = {
    ...azureAgentConfig({ deviceId, machineId: 1, brokerUrl, dataDir, speed: SPEED, exitWhenDone: false, heartbeatSeconds: 30, modelDir: referenceModelDir }),
    logLevel: 'info',
    ...over,
  };
  const file = join(dataDir, 'agent.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function start(v: Variant, config: string): ChildProcess {
  return spawn(v.command, [...v.args, '--config', config], { cwd: work, env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'inherit'] });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), hwm: kb('VmHWM') };
}

async function run(command: string, args: string[]): Promise<void> {
  const child = spawn(command, args, { stdio: 'inherit' });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${command} exited ${code}`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function report(r: { sizes: Record<string, number>; starts: Record<string, number[]>; memory: Record<string, { samples: Memory[]; summary: Record<string, unknown> }>; variants: readonly Variant[]; buildSeconds: number }): void {
  const mb = (b: number): string => (b / MiB).toFixed(1);
  const s = r.sizes;
  const lines = [
    `Run: ${new Date().toISOString()}, ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end.`,
    `Replay: Azure PdM machine 1 with the reference model (azure-pdm-failure-24h 1.0.0), speed ${SPEED}, ${MINUTES} min; starts: ${STARTS} per variant.`,
    '',
    '| | sea (single executable) | node from sources |',
    '|---|---:|---:|',
    `| on disk | ${mb(s.seaUnpacked!)} MiB unpacked: executable ${mb(s.seaExecutable!)} MiB + native/ ${mb(s.seaNative!)} MiB | ${mb(s.nodeBinary! + s.dist! + s.nodeModules!)} MiB: node ${mb(s.nodeBinary!)} MiB + dist ${mb(s.dist!)} MiB + production node_modules ${mb(s.nodeModules!)} MiB |`,
    `| download | tarball ${mb(s.seaTarball!)} MiB | (npm ci from the registry) |`,
    '',
    '| variant | Node | start to first inference, median (runs) ms | RSS at end MiB (anon + file) | peak RSS MiB | readings | predictions | records published |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const v of r.variants) {
    const starts = r.starts[v.name]!;
    const m = r.memory[v.name]!;
    const last = m.samples.at(-1)!;
    const sum = m.summary;
    lines.push(`| ${v.name} | ${v.node} | ${median(starts).toFixed(0)} (${starts.map((x) => x.toFixed(0)).join(', ')}) | ${mb(last.rss)} (${mb(last.anon)} + ${mb(last.file)}) | ${mb(Math.max(...m.samples.map((x) => x.hwm)))} | ${String(sum['readings'] ?? '?')} | ${String(sum['predictions'] ?? '?')} | ${String(sum['published'])} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stdout.write(`${JSON.stringify({ sizes: r.sizes, starts: r.starts, rss: Object.fromEntries(Object.entries(r.memory).map(([k, m]) => [k, m.samples.map((x) => Math.round(x.rss / 1024))])) })}\n`);
}

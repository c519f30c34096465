/**
 * `npm run build:agent`: builds build/pdm-agent-<version>-linux-x64/ and its .tar.gz:
 *
 *   pdm-agent                  single executable: Node 24 LTS + the bundled agent (SEA, postject)
 *   native/                    better_sqlite3.node (built for Node 24), onnxruntime_binding.node,
 *                              libonnxruntime.so.1 (must sit beside the binding: RUNPATH $ORIGIN)
 *   install.sh, systemd/, agent.example.json   what a gateway needs to install it (agent/README.md)
 *   licenses/, BUILD-INFO.json
 *
 * Node 24 and the better-sqlite3 addon are cached in build/cache (the first build compiles SQLite,
 * ~80-170 s on 2 cores); later builds re-bundle (~1 s) and skip the rest when nothing changed.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildError } from './build-error.js';
import { NATIVE_DIR } from './native-loader.js';
import { NATIVE_FILES } from './native-plugin.js';
import { betterSqlite3Source, ensureAddonHeaders, ensureBetterSqlite3, ensureNode24, type NodeRuntime } from './node24.js';
import { run } from './run.js';
import { bundleAgent, injectBlob, seaBlob } from './sea.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '../..');
const agentDir = join(repoRoot, 'agent');

/** Files from agent/packaging that travel in the tarball, by their place in it. */
const INSTALL_FILES: Readonly<Record<string, string>> = {
  '../README.md': 'README.md',
  'install.sh': 'install.sh',
  'agent.example.json': 'agent.example.json',
  'systemd/pdm-agent.service': 'systemd/pdm-agent.service',
  'systemd/pdm-agent-watchdog.service': 'systemd/pdm-agent-watchdog.service',
  'systemd/pdm-agent-watchdog.timer': 'systemd/pdm-agent-watchdog.timer',
};

export interface BuildResult {
  readonly version: string;
  readonly name: string;
  /** build/pdm-agent-<version>-linux-x64 */
  readonly dir: string;
  readonly executable: string;
  readonly tarball: string;
  readonly node: string;
  readonly bytes: { readonly executable: number; readonly native: number; readonly tarball: number };
  /** False when the inputs matched the previous build and only the bundle was checked. */
  readonly rebuilt: boolean;
  readonly seconds: number;
}

export interface BuildOptions {
  /** Where progress lines go (default: stdout). */
  readonly say?: (line: string) => void;
  /** Rebuild the executable and tarball even when the inputs are unchanged. */
  readonly force?: boolean;
}

export function agentVersion(): string {
  return (JSON.parse(readFileSync(join(agentDir, 'package.json'), 'utf8')) as { version: string }).version;
}

export function artifactName(version = agentVersion()): string {
  return `pdm-agent-${version}-linux-x64`;
}

export async function buildAgent(options: BuildOptions = {}): Promise<BuildResult> {
  const say = options.say ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new BuildError('setup', `builds linux-x64 only, this is ${process.platform}-${process.arch}`);
  }
  const started = Date.now();
  const version = agentVersion();
  const name = artifactName(version);
  const buildDir = join(repoRoot, 'build');
  const cacheDir = join(buildDir, 'cache');
  const workDir = join(buildDir, 'work');
  const out = join(buildDir, name);
  const tarball = `${out}.tar.gz`;
  mkdirSync(cacheDir, { recursive: true });
  mkdirSync(workDir, { recursive: true });
  const step = stepper(say, 7);

  const node = await step('Node 24 runtime', (sub) => ensureNode24(cacheDir, sub));
  const sqliteAddon = await step(`better-sqlite3 for Node 24 (ABI ${node.abi})`, async (sub) => {
    const headers = await ensureAddonHeaders(node, cacheDir, sub);
    return ensureBetterSqlite3(node, headers, agentDir, cacheDir, sub);
  });
  const bundle = await step('bundle the agent (esbuild)', async (sub) => {
    const b = await bundleAgent({ entry: join(agentDir, 'src/main.ts'), outfile: join(workDir, 'pdm-agent.cjs'), loader: join(here, 'native-loader.ts') });
    sub(`${relative(repoRoot, b.file)}: ${mb(b.bytes)}`);
    return b;
  });

  const natives = nativeSources(sqliteAddon);
  const installFiles = Object.fromEntries(Object.entries(INSTALL_FILES).map(([from, to]) => [to, join(here, from)]));
  // the packaging code is an input too: a change to the SEA config or the loader must rebuild
  const packaging = readdirSync(here).filter((f) => f.endsWith('.ts')).map((f) => join(here, f));
  const fingerprint = fingerprintOf([bundle.sha256, node.version, ...packaging, ...Object.values(natives), ...Object.values(installFiles)]);
  if (options.force !== true && readBuildInfo(out)?.fingerprint === fingerprint && existsSync(tarball)) {
    say(`[4-7/7] unchanged since the last build (${relative(repoRoot, tarball)})`);
    return result(false);
  }

  const blob = await step('SEA blob (Node 24 --experimental-sea-config)', () => seaBlob(node, bundle, workDir));
  rmSync(out, { recursive: true, force: true });
  rmSync(tarball, { force: true });
  mkdirSync(join(out, NATIVE_DIR), { recursive: true });
  await step('executable (copy Node 24, strip, postject)', (sub) => injectBlob(node, blob, join(out, 'pdm-agent'), sub));
  await step('native files, install files, licenses', () => {
    assemble(out, natives, installFiles, node);
    writeFileSync(join(out, 'BUILD-INFO.json'), `${JSON.stringify({ name, version, node: node.version, abi: node.abi, fingerprint, bundleSha256: bundle.sha256 }, null, 2)}\n`);
  });
  await step('smoke test from an empty directory, then tar.gz', (sub) => smokeAndPack(out, tarball, { version, node: node.version }, sub));
  return result(true);

  function result(rebuilt: boolean): BuildResult {
    const executable = join(out, 'pdm-agent');
    const bytes = {
      executable: statSync(executable).size,
      native: NATIVE_FILES.reduce((sum, f) => sum + statSync(join(out, NATIVE_DIR, f)).size, 0),
      tarball: statSync(tarball).size,
    };
    const seconds = (Date.now() - started) / 1000;
    say(`done in ${seconds.toFixed(1)} s: ${relative(repoRoot, executable)} ${mb(bytes.executable)}, ${NATIVE_DIR}/ ${mb(bytes.native)}, ${relative(repoRoot, tarball)} ${mb(bytes.tarball)}`);
    return { version, name, dir: out, executable, tarball, node: node.version, bytes, rebuilt, seconds };
  }
}

/** Fills the release directory around the executable: native/, the install files, licences. */
function assemble(out: string, natives: Record<string, string>, installFiles: Record<string, string>, node: NodeRuntime): void {
  for (const [file, from] of Object.entries(natives)) copyFileSync(from, join(out, NATIVE_DIR, file));
  for (const [to, from] of Object.entries(installFiles)) {
    mkdirSync(dirname(join(out, to)), { recursive: true });
    cpSync(from, join(out, to), { preserveTimestamps: false });
  }
  copyLicenses(node, out);
}

/**
 * Runs `pdm-agent --version` from an empty directory with a bare PATH (no node_modules, no Node
 * nearby), then packs the directory. The tarball appears under its name only when complete, so an
 * interrupted build never leaves one the next build would take as current.
 */
async function smokeAndPack(out: string, tarball: string, expected: { version: string; node: string }, say: (line: string) => void): Promise<void> {
  const printed = (await run('smoke', join(out, 'pdm-agent'), ['--version'], { cwd: tmpdir(), env: { PATH: '/usr/bin:/bin' } })).trim();
  if (!printed.includes(expected.version) || !printed.includes(expected.node)) {
    throw new BuildError('smoke', `pdm-agent --version printed "${printed}", expected ${expected.version} and ${expected.node}`);
  }
  say(printed);
  const partial = `${tarball}.partial`;
  await run('tar', 'tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', dirname(out), '-czf', partial, basename(out)]);
  renameSync(partial, tarball);
}

/** Where each file of native/ comes from: our Node 24 build of better-sqlite3 and onnxruntime-node's package. */
function nativeSources(sqliteAddon: string): Record<(typeof NATIVE_FILES)[number], string> {
  const ortPackage = dirname(createRequire(join(agentDir, 'package.json')).resolve('onnxruntime-node/package.json'));
  const ortDir = join(ortPackage, 'bin/napi-v6/linux/x64');
  return {
    'better_sqlite3.node': sqliteAddon,
    'onnxruntime_binding.node': join(ortDir, 'onnxruntime_binding.node'),
    'libonnxruntime.so.1': join(ortDir, 'libonnxruntime.so.1'),
  };
}

/** Node's LICENSE lists every project Node itself carries; the addons ship their own. */
function copyLicenses(node: NodeRuntime, out: string): void {
  const dir = join(out, 'licenses');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(node.dir, 'LICENSE'), join(dir, 'node.LICENSE'));
  copyFileSync(join(betterSqlite3Source(agentDir).dir, 'LICENSE'), join(dir, 'better-sqlite3.LICENSE'));
  writeFileSync(join(dir, 'onnxruntime.LICENSE'), 'onnxruntime and onnxruntime-node: MIT License, Copyright (c) Microsoft Corporation.\nhttps://github.com/microsoft/onnxruntime/blob/main/LICENSE\n');
}

function fingerprintOf(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(existsSync(part) ? readFileSync(part) : part).update('\0');
  return hash.digest('hex');
}

function readBuildInfo(out: string): { fingerprint?: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(out, 'BUILD-INFO.json'), 'utf8')) as { fingerprint?: string };
  } catch {
    return undefined;
  }
}

type Step = <T>(title: string, fn: (sub: (line: string) => void) => Promise<T> | T) => Promise<T>;

/** Prints "[n/total] title", the step's own lines indented, then how long it took. */
function stepper(say: (line: string) => void, total: number): Step {
  let n = 0;
  return async (title, fn) => {
    n += 1;
    say(`[${n}/${total}] ${title}`);
    const t = Date.now();
    const value = await fn((line) => say(`      ${line}`));
    say(`      ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return value;
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildAgent({ force: process.argv.includes('--force') }).catch((err: unknown) => {
    process.stderr.write(`build:agent failed: ${err instanceof BuildError ? err.message : String((err as Error)?.stack ?? err)}\n`);
    process.exitCode = 1;
  });
}

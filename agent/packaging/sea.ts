/**
 * The single executable (PLATFORM.md "A compiled agent"): esbuild bundles agent/src/main.ts into one
 * CommonJS file, Node 24 turns it into a SEA blob, and postject injects the blob into a stripped copy
 * of the Node 24 binary. The native addons stay outside, in native/ beside the executable.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { BuildError } from './build-error.js';
import { nativeAddonsPlugin } from './native-plugin.js';
import type { NodeRuntime } from './node24.js';
import { run } from './run.js';

/** The fuse Node's SEA loader looks for (Node docs, "Single executable applications"). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * V8 flags the executable always starts with (NODE_OPTIONS can still add to them). A young generation
 * of 2 MB semi-spaces instead of V8's default 16 MB: the agent allocates little per reading, and it
 * saves 14-23 MB of RSS with no measurable cost in replay throughput (bench/RESULTS.md, agent).
 */
export const SEA_EXEC_ARGV = ['--max-semi-space-size=2'];

export interface Bundle {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** Bundles the agent from its TypeScript sources (the `pdm-source` condition), so no tsc build is needed. */
export async function bundleAgent(opts: { entry: string; outfile: string; loader: string }): Promise<Bundle> {
  const result = await build({
    entryPoints: [opts.entry],
    outfile: opts.outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    conditions: ['pdm-source'],
    plugins: [nativeAddonsPlugin(opts.loader)],
    logLevel: 'silent',
    // readable stack traces from the field matter more than the ~1 MB minifying would save
    minify: false,
    legalComments: 'none',
  }).catch((cause: unknown) => {
    throw new BuildError('bundle', 'esbuild failed', { cause });
  });
  if (result.warnings.length > 0) {
    const text = result.warnings.map((w) => `${w.location?.file ?? '?'}:${w.location?.line ?? 0} ${w.text}`).join('\n');
    throw new BuildError('bundle', `esbuild warned (each is a require the executable could not serve):\n${text}`);
  }
  const js = stripHashbang(readFileSync(opts.outfile, 'utf8'));
  writeFileSync(opts.outfile, js);
  return { file: opts.outfile, bytes: Buffer.byteLength(js), sha256: createHash('sha256').update(js).digest('hex') };
}

/** esbuild keeps main.ts's `#!/usr/bin/env node`; the SEA wraps its main script in a function, where "#!" cannot parse. */
function stripHashbang(js: string): string {
  return js.replace(/^#!.*\n/, '');
}

/** Writes the SEA blob with Node 24 itself (a blob only runs in the Node version that made it). */
export async function seaBlob(node: NodeRuntime, bundle: Bundle, workDir: string): Promise<string> {
  const blob = join(workDir, 'pdm-agent.blob');
  const config = join(workDir, 'sea-config.json');
  writeFileSync(config, `${JSON.stringify({
    main: bundle.file,
    output: blob,
    disableExperimentalSEAWarning: true,
    // V8's compiled code for the bundle travels in the blob: faster start, at the cost of blob size
    useCodeCache: true,
    useSnapshot: false,
    execArgv: SEA_EXEC_ARGV,
  }, null, 2)}\n`);
  await run('sea', node.bin, ['--experimental-sea-config', config], { cwd: workDir });
  if (!existsSync(blob)) throw new BuildError('sea', 'node wrote no SEA blob', { context: { config } });
  return blob;
}

/** Copies the Node 24 binary to `exe`, strips its symbols (~120 -> ~90 MB) and injects the blob. */
export async function injectBlob(node: NodeRuntime, blob: string, exe: string, say: (line: string) => void): Promise<void> {
  rmSync(exe, { force: true });
  copyFileSync(node.bin, exe);
  chmodSync(exe, 0o755);
  if (await has('strip')) await run('executable', 'strip', [exe]);
  else say('strip not found: the executable keeps its symbols (~30 MB larger)');
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  await run('executable', process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
}

async function has(command: string): Promise<boolean> {
  try {
    await run('executable', 'sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

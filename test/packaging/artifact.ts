/**
 * The agent's release tarball for tests: built by the real build script (cached under build/, so
 * only the first build on a machine compiles better-sqlite3; later ones re-bundle and find nothing
 * changed in ~3 s), then unpacked into a temp dir outside the repo, where no node_modules can help.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildAgent, type BuildResult } from '../../agent/packaging/build.js';

/** Build once per test process, however many files ask. */
let building: Promise<BuildResult> | undefined;

export function ensureArtifact(): Promise<BuildResult> {
  building ??= buildAgent({ say: (line) => process.stdout.write(`[build:agent] ${line}\n`) });
  return building;
}

export async function unpack(tarball: string, into: string): Promise<void> {
  mkdirSync(into, { recursive: true });
  await promisify(execFile)('tar', ['-xzf', tarball, '-C', into]);
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program to its end with a bare environment (PATH only: no NODE_OPTIONS, NODE_PATH or npm
 * variables from the test runner) and `cwd` as working directory.
 */
export async function runProgram(file: string, args: readonly string[], options: { cwd: string; timeoutMs?: number; env?: Record<string, string> }): Promise<Ran> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, {
      cwd: options.cwd,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...options.env },
      timeout: options.timeoutMs ?? 30_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** pino JSON lines of a program's stdout, parsed; other lines are kept as { msg }. */
export function logLines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return { msg: l };
    }
  });
}

export const binIn = (dir: string): string => join(dir, 'pdm-agent');

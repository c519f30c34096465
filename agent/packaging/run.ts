/**
 * Runs one command of the build and waits for it. Its output is kept (the last lines go into the
 * BuildError when it fails) and each line can be shown as progress.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BuildError } from './build-error.js';

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Called with each output line (stdout and stderr), e.g. to print compiler progress. */
  readonly onLine?: (line: string) => void;
}

const TAIL_LINES = 30;

/** Resolves with stdout when the command exits 0; else throws a BuildError holding the last lines. */
export function run(step: string, command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let stdout = '';
    const onLine = (line: string): void => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine?.(line);
    };
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('error', (cause) => reject(new BuildError(step, `cannot run ${command}`, { cause, context: { command } })));
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new BuildError(step, `${command} ${args.join(' ')} failed (exit ${code ?? signal})\n${tail.join('\n')}`, { context: { command, code, signal } }));
    });
  });
}

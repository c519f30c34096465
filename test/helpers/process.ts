/**
 * Runs a real program as a child process and reads its pino JSON log lines, so tests can wait for
 * "controller ready" or "agent done" instead of sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

interface Waiter {
  match: (line: LogLine) => boolean;
  resolve: (line: LogLine) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ProgramOptions {
  /** The executable to run; default this Node (`process.execPath`), with `args` starting at the script. */
  command?: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Every line the program prints is copied here (for post-mortems). */
  logFile?: string;
}

export class Program {
  readonly lines: LogLine[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly child: ChildProcess;
  private readonly log: WriteStream | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, options: ProgramOptions) {
    this.log = options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' });
    this.child = spawn(options.command ?? process.execPath, options.args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(({ code, signal }) => {
      for (const w of this.waiters) w.reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) while waiting`));
      this.waiters.clear();
    });
    createInterface({ input: this.child.stdout! }).on('line', (text) => this.onLine(text));
    createInterface({ input: this.child.stderr! }).on('line', (text) => this.onLine(text));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private onLine(text: string): void {
    this.log?.write(`${text}\n`);
    let line: LogLine;
    try {
      const parsed: unknown = JSON.parse(text);
      line = typeof parsed === 'object' && parsed !== null ? (parsed as LogLine) : { msg: text };
    } catch {
      line = { msg: text, raw: true };
    }
    this.lines.push(line);
    for (const w of this.waiters) {
      if (w.match(line)) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  /** Resolves with the first line (already seen or future) that matches. */
  waitFor(match: string | ((line: LogLine) => boolean), timeoutMs = 60_000): Promise<LogLine> {
    const fn = typeof match === 'string' ? (l: LogLine) => l.msg === match : match;
    const seen = this.lines.find(fn);
    if (seen !== undefined) return Promise.resolve(seen);
    if (!this.running) return Promise.reject(new Error(`${this.name} is not running`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match: fn,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const tail = this.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n');
          reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for a log line\n${tail}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Log lines at error level or above (pino level >= 50). */
  errors(): LogLine[] {
    return this.lines.filter((l) => typeof l.level === 'number' && l.level >= 50);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.kill(signal);
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
      this.log?.end();
    }
  }
}

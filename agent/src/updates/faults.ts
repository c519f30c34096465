/**
 * Fault injection for the crash tests (RELIABILITY.md: "kill -9 at any step"). With `crashAt` set
 * (env `PDM_AGENT_CRASH_AT`), the agent SIGKILLs itself when it reaches that step of an update, so a
 * test can check that a restart finds exactly one complete model active. SIGKILL, not exit: no
 * handler, no flush, no goodbye runs, as with a power cut of the process. The one line it leaves is
 * written to stderr synchronously first.
 */
import { writeSync } from 'node:fs';
import type { Logger } from 'pino';

export const crashSteps = [
  /** Every artifact downloaded and verified in `.partial/`, nothing installed yet. */
  'after-download',
  /** The version directory written and fsynced under `.tmp/`, not yet renamed into `versions/`. */
  'after-write',
  /** The version directory renamed into `versions/`, the pointer not yet changed. */
  'after-rename',
  /** The pointer names the new version (in trial), the model not yet loaded. */
  'after-pointer',
  /** The new version has scored its first rows in trial, not yet committed. */
  'in-trial',
] as const;
export type CrashStep = (typeof crashSteps)[number];

export type CrashHook = (step: CrashStep) => void;

export const noCrash: CrashHook = () => undefined;

export function crashHook(at: CrashStep | undefined, log: Logger): CrashHook {
  if (at === undefined) return noCrash;
  return (step) => {
    if (step !== at) return;
    // pino writes stdout asynchronously, so a line logged now could die with the process: this one
    // goes to stderr synchronously, in pino's shape, before the kill
    const line = { level: 60, time: new Date().toISOString(), ...log.bindings(), step, msg: 'fault injection: killing the agent' };
    writeAllSync(2, `${JSON.stringify(line)}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}

/** Writes every byte to `fd`, waiting out a full pipe (EAGAIN) rather than losing the line. */
function writeAllSync(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let done = 0;
  for (let attempts = 0; done < bytes.byteLength && attempts < 10_000; attempts++) {
    try {
      done += writeSync(fd, bytes, done, bytes.byteLength - done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

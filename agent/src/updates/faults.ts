/**
 * Fault injection for the crash tests (RELIABILITY.md: "kill -9 at any step"). With `crashAt` set
 * (env `PDM_AGENT_CRASH_AT`), the agent SIGKILLs itself when it reaches that step of an update, so a
 * test can check that a restart finds exactly one complete model active. SIGKILL, not exit: no
 * handler, no flush, no goodbye runs, as with a power cut of the process.
 */
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
    // fatal is written synchronously by pino's default destination, so the line survives the kill
    log.fatal({ step }, 'fault injection: killing the agent');
    process.kill(process.pid, 'SIGKILL');
  };
}

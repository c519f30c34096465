/** Runs pdmctl in this process with its stdout and stderr captured, for tests of command groups. */
import { runPdmctl } from '../cli/run.js';

export interface PdmctlResult {
  code: number;
  out: string;
  err: string;
}

export async function runCaptured(args: readonly string[], env: NodeJS.ProcessEnv): Promise<PdmctlResult> {
  let out = '';
  let err = '';
  const code = await runPdmctl(args, { env, writers: { stdout: (t) => { out += t; }, stderr: (t) => { err += t; } } });
  return { code, out, err };
}

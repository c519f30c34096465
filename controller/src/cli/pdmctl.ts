#!/usr/bin/env node
/** pdmctl: the controller's command line (see run.ts for the grammar and exit codes). */
import { runPdmctl } from './run.js';

runPdmctl(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.stderr.write(`pdmctl: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`); process.exitCode = 1; },
);

#!/usr/bin/env node
/**
 * pdm-controller: the fleet controller process. Reads the configuration (file, env, flags), starts
 * the parts, prints one "controller ready" line with the real ports, and stops cleanly on SIGTERM or
 * SIGINT (exit 0). A bad configuration exits 2 listing every problem; a failed start exits 1.
 */
import { isPdmError } from '@pdm/protocol';
import { CONTROLLER_VERSION, ControllerApp } from './app.js';
import { CONFIG_FILE_ENV, describeConfig, loadConfig, type ControllerConfig } from './config.js';
import { parseFlags } from './flags.js';
import { createLogger } from './logger.js';

const USAGE = `Usage: pdm-controller [--config file.json] [flags]

Settings come from the JSON file (--config or ${CONFIG_FILE_ENV}), then the environment, then flags.

Flags and environment variables:
${describeConfig().join('\n')}

  --help                   this text
  --version                print the version
`;

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const flags = parseFlags(argv);
  if (flags.help) { process.stdout.write(USAGE); return 0; }
  if (flags.version) { process.stdout.write(`${CONTROLLER_VERSION}\n`); return 0; }

  let config: ControllerConfig;
  try {
    config = loadConfig({ file: flags.configFile ?? env[CONFIG_FILE_ENV], env, flags: flags.values, problems: flags.problems });
  } catch (err) {
    if (!isPdmError(err, 'CONFIG_INVALID')) throw err;
    const problems = err.context.problems as string[];
    process.stderr.write(`pdm-controller: invalid configuration (${problems.length} problem(s)):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 2;
  }

  const log = createLogger(config.logLevel);
  process.on('uncaughtException', (err) => { log.fatal({ err }, 'uncaught exception'); process.exit(1); });
  process.on('unhandledRejection', (err) => { log.fatal({ err }, 'unhandled rejection'); process.exit(1); });

  const app = new ControllerApp({ config, log });
  try {
    await app.start();
  } catch (err) {
    log.fatal({ err }, 'controller failed to start');
    return 1;
  }
  // The ready line is a contract (tests and the demo read the ports from it): printed even when the
  // configured level is quieter than info.
  log.child({}, { level: log.level === 'silent' ? 'silent' : 'info' }).info(app.ready(), 'controller ready');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  // A second signal while stopping means "now".
  const force = (again: NodeJS.Signals) => { log.warn({ signal: again }, 'forced exit'); process.exit(1); };
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  log.info({ signal }, 'controller stopping');
  await app.stop();
  log.info({}, 'controller stopped');
  return 0;
}

main(process.argv.slice(2), process.env).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { process.stderr.write(`pdm-controller: ${String(err)}\n`); process.exitCode = 1; },
);

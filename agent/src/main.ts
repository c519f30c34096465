#!/usr/bin/env node
/**
 * pdm-agent: reads the configuration (file, env, flags), builds the runtime, runs until SIGTERM/SIGINT
 * (or, with exitWhenDone, until the source has ended and the outbox is drained), then stops every part
 * in reverse order. Exit codes: 0 clean stop, 1 failure at start or a failed source, 2 invalid config.
 * Logs are pino JSON lines on stdout; "agent ready" and "agent done" are parsed by tests and the demo.
 * `pdm-agent health` asks a running agent's health endpoint instead (./health/health-check.ts).
 */
import { pino, stdTimeFunctions } from 'pino';
import { isPdmError } from '@pdm/protocol';
import { systemClock } from './clock.js';
import { loadConfig, wantsHelp } from './config/load.js';
import type { AgentConfig } from './config/schema.js';
import { healthCommand } from './health/health-check.js';
import { HealthServer } from './health/health-server.js';
import { createRuntime, type Runtime } from './runtime.js';
import { usage } from './usage.js';
import { AGENT_VERSION } from './version.js';

type Outcome = { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'done'; failed: boolean };

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(usage());
    return 0;
  }
  if (argv[0] === 'health') {
    return healthCommand(argv.slice(1), { env, out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
  }
  if (argv.includes('--version')) {
    // the Node version shows which runtime runs the agent: the single executable embeds Node 24
    process.stdout.write(`pdm-agent ${AGENT_VERSION} (node ${process.version}, ${process.platform}-${process.arch})\n`);
    return 0;
  }
  let config: AgentConfig;
  try {
    config = loadConfig({ argv, env });
  } catch (err) {
    if (!isPdmError(err, 'CONFIG_INVALID')) throw err;
    process.stderr.write(`pdm-agent: ${err.message}\nRun pdm-agent --help for every option.\n`);
    return 2;
  }
  const log = pino({ level: config.logLevel, base: { pid: process.pid, deviceId: config.deviceId }, timestamp: stdTimeFunctions.isoTime });
  // listening before the start: a SIGTERM during start-up (systemd stopping a slow start) then stops
  // the parts cleanly once they are up, instead of killing the process with the outbox open
  const stopRequested = signalled();
  // the health endpoint answers (503 "starting") while the model loads, so a slow start is not hung
  let running: Runtime | undefined;
  const health = config.healthPort === undefined
    ? undefined
    : new HealthServer({ port: config.healthPort, sources: () => running, clock: systemClock, log: log.child({ module: 'health' }) });
  let runtime: Runtime;
  try {
    await health?.start();
    runtime = await createRuntime(config, { clock: systemClock, log });
    await runtime.agent.start();
    running = runtime;
  } catch (err) {
    log.fatal({ err }, 'agent failed to start');
    await health?.stop();
    return 1;
  }
  const outcome = await Promise.race([stopRequested, config.exitWhenDone ? doneAndDrained(runtime) : new Promise<never>(() => undefined)]);
  if (outcome.kind === 'signal') log.info({ signal: outcome.signal }, 'stopping');
  await runtime.agent.stop();
  await health?.stop();
  const summary = runtime.summary();
  if (outcome.kind === 'done') log.info(summary, 'agent done');
  else log.info(summary, 'agent stopped');
  return outcome.kind === 'done' && outcome.failed ? 1 : 0;
}

/** The source is over and every record it produced has been acknowledged by the broker. */
async function doneAndDrained(runtime: Runtime): Promise<Outcome> {
  const outcome = await runtime.sourceDelivered;
  return { kind: 'done', failed: outcome === 'failed' };
}

function signalled(): Promise<Outcome> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => resolve({ kind: 'signal', signal });
    process.once('SIGTERM', on);
    process.once('SIGINT', on);
  });
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`pdm-agent crashed: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);

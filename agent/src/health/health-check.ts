/**
 * `pdm-agent health [--config agent.json] [--timeout-ms 5000] [--<field> value]...`: asks the running
 * agent's health endpoint (healthPort in the same configuration) and says what it found, for systemd
 * (agent/packaging/systemd/pdm-agent-watchdog.service) and for people. Exit codes:
 *   0 healthy (200), 1 answering but unhealthy (503: link down, outbox failing, starting),
 *   2 no healthPort or an invalid configuration, 3 no answer in time (not running, or hung).
 */
import { isPdmError } from '@pdm/protocol';
import { loadConfig } from '../config/load.js';

export const HEALTH_EXIT = { healthy: 0, unhealthy: 1, config: 2, noAnswer: 3 } as const;

const DEFAULT_TIMEOUT_MS = 5_000;

export interface HealthCommandIo {
  readonly env: NodeJS.ProcessEnv;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export async function healthCommand(argv: readonly string[], io: HealthCommandIo): Promise<number> {
  const { rest, timeoutMs } = takeTimeout(argv);
  if (timeoutMs === undefined) {
    io.err('pdm-agent health: --timeout-ms takes a positive number of milliseconds\n');
    return HEALTH_EXIT.config;
  }
  let port: number | undefined;
  try {
    port = loadConfig({ argv: rest, env: io.env }).healthPort;
  } catch (err) {
    if (!isPdmError(err, 'CONFIG_INVALID')) throw err;
    io.err(`pdm-agent health: ${err.message}\n`);
    return HEALTH_EXIT.config;
  }
  if (port === undefined || port === 0) {
    io.err('pdm-agent health: the configuration sets no healthPort, so the agent serves no health endpoint\n');
    return HEALTH_EXIT.config;
  }
  const verdict = await checkHealth(port, timeoutMs);
  (verdict.exit === HEALTH_EXIT.noAnswer ? io.err : io.out)(verdict.text);
  return verdict.exit;
}

/** GET http://127.0.0.1:<port>/health once: 200 healthy, 503 unhealthy, anything else or nothing: no answer. */
export async function checkHealth(port: number, timeoutMs: number): Promise<{ exit: number; text: string }> {
  const url = `http://127.0.0.1:${port}/health`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    if (res.status === 200) return { exit: HEALTH_EXIT.healthy, text: body };
    if (res.status === 503) return { exit: HEALTH_EXIT.unhealthy, text: body };
    return { exit: HEALTH_EXIT.noAnswer, text: `${url}: unexpected HTTP ${res.status}\n` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    return { exit: HEALTH_EXIT.noAnswer, text: `${url}: no answer within ${timeoutMs} ms (${cause})\n` };
  }
}

function takeTimeout(argv: readonly string[]): { rest: string[]; timeoutMs: number | undefined } {
  const rest: string[] = [];
  let timeoutMs: number | undefined = DEFAULT_TIMEOUT_MS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--timeout-ms' || arg.startsWith('--timeout-ms=')) {
      const raw = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      const n = Number(raw);
      timeoutMs = Number.isFinite(n) && n > 0 ? n : undefined;
    } else {
      rest.push(arg);
    }
  }
  return { rest, timeoutMs };
}

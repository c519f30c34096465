import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

/**
 * The root logger: JSON lines on stdout (tests and the demo parse the "controller ready" line from
 * it). Parts get `log.child({ module })`. Credentials are redacted wherever they appear.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { pid: process.pid, app: 'pdm-controller' },
    redact: { paths: ['password', '*.password', 'brokerPassword', '*.brokerPassword'], censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

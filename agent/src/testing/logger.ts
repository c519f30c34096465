/** Loggers for tests: silent, or capturing every line as a parsed object. */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export const silentLogger: Logger = pino({ level: 'silent' });

export interface CapturedLog {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
}

export function captureLogger(level: pino.Level = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}

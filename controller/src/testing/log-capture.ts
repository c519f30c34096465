import { Writable } from 'node:stream';
import { createLogger, type LogLevel, type Logger } from '../logger.js';

export interface LogLine {
  level: number;
  msg: string;
  module?: string;
  [key: string]: unknown;
}

/** A real pino logger whose JSON lines are parsed into `lines`, for assertions on what was logged. */
export function captureLogs(level: LogLevel = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

import { describe, expect, it } from 'vitest';
import { PdmError } from '@pdm/protocol';
import { captureLogs } from '../testing/log-capture.js';
import { FailedAttempts, MAX_ATTEMPTS, batchLog, databaseUnavailable, writeBatch, type BatchWrites } from './failed-attempts.js';
import { LogThrottle } from './log-throttle.js';

describe('failed attempts', () => {
  it('tells a database that cannot take the write now from an error that may be the message\'s own', () => {
    const unavailable = ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_TIMEOUT', 'SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE', 'SQLITE_FULL',
      'SQLITE_IOERR', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_FSYNC', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED'];
    const maybePoison = ['SQLITE_ERROR', 'SQLITE_CONSTRAINT', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_MISMATCH', 'SQLITE_TOOBIG', 'SQLITE_CORRUPT', 'SQLITE_FULLX', 'INTERNAL'];
    expect(unavailable.filter((code) => !databaseUnavailable({ code }))).toEqual([]);
    expect(maybePoison.filter((code) => databaseUnavailable({ code }))).toEqual([]);
    expect([databaseUnavailable(new Error('no code')), databaseUnavailable(undefined), databaseUnavailable({ code: 5 })]).toEqual([false, false, false]);
  });

  it('counts a message\'s failures up to MAX_ATTEMPTS, then forgets it; a store forgets it too', () => {
    const attempts = new FailedAttempts();
    const counts = Array.from({ length: MAX_ATTEMPTS }, () => attempts.failed('m'));
    expect(counts).toEqual(Array.from({ length: MAX_ATTEMPTS }, (_, i) => i + 1));
    expect(attempts.failed('m')).toBe(1);
    attempts.stored('m');
    expect(attempts.failed('m')).toBe(1);
    expect(attempts.failed('other')).toBe(1);
  });

  describe('writeBatch', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    const poison = new PdmError('INTERNAL', 'poison');
    /** Items are names; a name in `failing` throws its error whenever it is written, alone or in a batch. */
    function writes(failing: Record<string, Error>, tried: string[]): BatchWrites<string, string> {
      const one = (item: string): string => {
        tried.push(item);
        const err = failing[item];
        if (err !== undefined) throw err;
        return `ok:${item}`;
      };
      return { writeAll: (items) => items.map((item) => (failing[item] === undefined ? `ok:${item}` : one(item))), writeOne: one, key: (item) => item };
    }

    it('writes a batch whole, and fails it whole, trying none alone, when the database cannot take the write', () => {
      const attempts = new FailedAttempts();
      expect(writeBatch(['a', 'b'], writes({}, []), attempts)).toEqual({ results: [{ type: 'written', value: 'ok:a' }, { type: 'written', value: 'ok:b' }] });
      const tried: string[] = [];
      expect(writeBatch(['a', 'b'], writes({ b: busy }, tried), attempts)).toEqual({
        results: [{ type: 'failed', error: busy }, { type: 'failed', error: busy }], failure: { error: busy, oneByOne: false },
      });
      expect(tried).toEqual(['b']); // inside writeAll only
      expect(attempts.pending).toBe(false);
    });

    it('writes the members of a failed batch alone: the poison one fails, and is dropped at MAX_ATTEMPTS; a store clears its count', () => {
      const attempts = new FailedAttempts();
      const results = Array.from({ length: MAX_ATTEMPTS }, () => writeBatch(['a', 'p', 'c'], writes({ p: poison }, []), attempts));
      for (const r of results) expect(r.failure).toEqual({ error: poison, oneByOne: true });
      expect(results.map((r) => r.results.map((x) => x.type))).toEqual([
        ...Array.from({ length: MAX_ATTEMPTS - 1 }, () => ['written', 'failed', 'written']), ['written', 'dropped', 'written'],
      ]);
      expect(results.at(-1)!.results[1]).toEqual({ type: 'dropped', error: poison, attempts: MAX_ATTEMPTS });
      writeBatch(['p'], writes({ p: poison }, []), attempts);
      expect(attempts.pending).toBe(true);
      writeBatch(['p'], writes({}, []), attempts);
      expect(attempts.pending).toBe(false);
    });

    it('stops writing members alone once the database cannot take the write, counting no attempt for them', () => {
      const attempts = new FailedAttempts();
      const tried: string[] = [];
      const r = writeBatch(['a', 'p', 'b', 'c'], writes({ p: poison, b: busy }, tried), attempts);
      expect(r.results).toEqual([{ type: 'written', value: 'ok:a' }, { type: 'failed', error: poison }, { type: 'failed', error: busy }, { type: 'failed', error: busy }]);
      expect(tried).toEqual(['p', 'a', 'p', 'b']);
      expect(attempts.failed('b')).toBe(1);
      expect(attempts.failed('p')).toBe(2);
    });
  });

  it('logs a failed batch as statuses and records share it: one by one only past one message, unavailable once per interval', () => {
    const { log, lines } = captureLogs('debug');
    let now = 0;
    const throttle = new LogThrottle(10_000, () => now);
    const full = new PdmError('INTERNAL', 'disk full (simulated)');
    batchLog.failure(log, undefined, 5, throttle);
    batchLog.failure(log, { error: full, oneByOne: true }, 1, throttle);
    expect(lines).toEqual([]);
    batchLog.failure(log, { error: full, oneByOne: true }, 6, throttle);
    for (const messages of [3, 4, 1]) batchLog.failure(log, { error: full, oneByOne: false }, messages, throttle);
    now = 10_000;
    batchLog.failure(log, { error: full, oneByOne: false }, 7, throttle);
    expect(lines.map(({ level, msg, messages, suppressed }) => ({ level, msg, messages, suppressed }))).toEqual([
      { level: 40, msg: 'batch not stored whole; its messages were stored one by one', messages: 6, suppressed: undefined },
      { level: 50, msg: 'database cannot take the write now; batch not stored, it comes again', messages: 3, suppressed: 0 },
      { level: 50, msg: 'database cannot take the write now; batch not stored, it comes again', messages: 7, suppressed: 2 },
    ]);
    expect(lines.every((l) => (l['err'] as { message?: string }).message === 'disk full (simulated)')).toBe(true);
  });
});

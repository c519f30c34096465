import { describe, expect, it } from 'vitest';
import { FailedAttempts, MAX_ATTEMPTS, databaseUnavailable } from './failed-attempts.js';

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
});

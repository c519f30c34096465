import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IsoTime } from './iso-time.js';

describe('IsoTime', () => {
  it('writes what Date.toISOString writes, in and out of time order, at day and year edges', () => {
    const iso = new IsoTime();
    const edges = [0, 1, 999, 86_399_999, 86_400_000, Date.UTC(2015, 0, 1, 6), Date.UTC(2016, 1, 29, 23, 59, 59, 999), 253_402_300_799_999];
    for (const ms of edges) expect(iso.format(ms)).toBe(new Date(ms).toISOString());
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 253_402_300_799_999 }), fc.integer({ min: -8.64e15, max: 8.64e15 })), (ms) => {
        expect(iso.format(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 2000 },
    );
    // hourly readings across months: the cached day changes every 24 of them
    const start = Date.UTC(2015, 0, 1);
    for (let h = 0; h < 24 * 90; h++) expect(iso.format(start + h * 3_600_000)).toBe(new Date(start + h * 3_600_000).toISOString());
  });

  it('leaves fractions of a ms, years past 9999 and invalid times to Date (truncated, six-digit year, RangeError)', () => {
    const iso = new IsoTime();
    expect(iso.format(1.7)).toBe(new Date(1.7).toISOString());
    expect(iso.format(253_402_300_800_000)).toBe('+010000-01-01T00:00:00.000Z');
    expect(() => iso.format(Number.NaN)).toThrow(RangeError);
  });
});

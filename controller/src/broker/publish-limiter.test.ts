import { describe, expect, it } from 'vitest';
import { PublishLimiter } from './publish-limiter.js';

describe('PublishLimiter', () => {
  it('lets a burst through, then spaces publishes at the rate, per client, in order', () => {
    const limiter = new PublishLimiter({ ratePerSecond: 10, burst: 3 });
    expect([0, 0, 0].map(() => limiter.take('a', 0))).toEqual([0, 0, 0]);
    expect([limiter.take('a', 0), limiter.take('a', 0)]).toEqual([100, 200]);
    expect(limiter.take('b', 0)).toBe(0);
    // a second later the reservations are paid and eight tokens have come back (three at most are kept)
    expect(limiter.take('a', 1000)).toBe(0);
    limiter.forget('a');
    expect(limiter.take('a', 1000)).toBe(0);
    expect(new PublishLimiter({ ratePerSecond: 0, burst: 1 }).take('a', 0)).toBe(0);
  });
});

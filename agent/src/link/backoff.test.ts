import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

const policy = { initialMs: 500, maxMs: 30_000 };

describe('backoffDelay', () => {
  it('doubles per attempt up to the cap, with half of each step random', () => {
    expect([0, 1, 2, 3, 10, 100].map((a) => backoffDelay(policy, a, () => 0))).toEqual([250, 500, 1000, 2000, 15_000, 15_000]);
    expect([0, 1, 2, 3, 10, 100].map((a) => backoffDelay(policy, a, () => 0.999_999))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000]);
  });

  it('spreads devices out: different random draws give different delays within the step', () => {
    const delays = [0.1, 0.5, 0.9].map((r) => backoffDelay(policy, 4, () => r));
    expect(delays).toEqual([4400, 6000, 7600]);
  });
});

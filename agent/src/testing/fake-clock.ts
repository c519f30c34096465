/** A clock for tests: sleeping advances virtual time at once, and every sleep is recorded. */
import type { Clock } from '../clock.js';

export class FakeClock implements Clock {
  readonly sleeps: number[] = [];

  constructor(private t = Date.parse('2020-01-01T00:00:00Z')) {}

  now(): number {
    return this.t;
  }

  monotonic(): number {
    return this.t;
  }

  advance(ms: number): void {
    this.t += ms;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    this.sleeps.push(ms);
    this.t += ms;
    await Promise.resolve();
  }
}

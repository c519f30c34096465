import { dirname } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../clock.js';
import { captureLogs } from '../testing/log-capture.js';
import { testDatabase } from '../testing/test-database.js';
import { Cluster } from './cluster.js';
import { LeaderOnly } from './leader-only.js';

const LEASE = 9000;
const { log, lines } = captureLogs('info');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Two instances as two processes would be: each its own connection to one database file, one host clock. */
async function twoInstances() {
  const clock = new ManualClock();
  const open = async (name: string, dataDir?: string) => {
    const database = await testDatabase({ log, dataDir });
    // renewals only when the test says so (tick), never on a timer
    const cluster = new Cluster({ name, leaseMs: LEASE, renewMs: 3_600_000 }, database, clock, log);
    return { database, cluster };
  };
  const a = await open('a');
  const b = await open('b', dirname(a.database.file));
  cleanups.push(() => a.cluster.stop(), () => b.cluster.stop());
  return { clock, a: a.cluster, b: b.cluster, db: a.database };
}

describe('Cluster (leader lease in the shared database)', () => {
  it('gives the lease to the first instance and keeps it there while it renews', async () => {
    const { clock, a, b } = await twoInstances();
    await a.start();
    await b.start();
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    for (let i = 0; i < 5; i += 1) {
      clock.advance(LEASE / 3);
      a.tick();
      b.tick();
      expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    }
    expect(a.members().map((m) => [m.name, m.leader])).toEqual([['a', true], ['b', false]]);
  });

  it('hands the lease over only after a silent leader\'s lease has expired', async () => {
    const { clock, a, b } = await twoInstances();
    await a.start();
    await b.start();
    // a stops renewing (as if frozen or killed): it steps down a third of the lease before the expiry
    clock.advance(LEASE * 2 / 3 - 1);
    expect(a.isLeader).toBe(true);
    clock.advance(1);
    expect(a.isLeader).toBe(false);
    // while nobody can take the lease yet
    clock.advance(LEASE / 3 - 1);
    b.tick();
    expect(b.isLeader).toBe(false);
    clock.advance(1);
    b.tick();
    expect(b.isLeader).toBe(true);
    a.tick();
    expect([a.isLeader, b.isLeader]).toEqual([false, true]);
  });

  it('releases the lease on stop, so the other instance takes it at its next renewal', async () => {
    const { a, b } = await twoInstances();
    await a.start();
    await b.start();
    await a.stop();
    b.tick();
    expect(b.isLeader).toBe(true);
    expect(b.members().map((m) => m.name)).toEqual(['b']);
    expect(lines.filter((l) => l.msg === 'leadership acquired').length).toBeGreaterThanOrEqual(2);
  });

  it('leave(): of two instances stopping, the first sees the other remain and the last sees nobody', async () => {
    const { a, b } = await twoInstances();
    await a.start();
    await b.start();
    expect(b.leave()).toBe(true);
    expect(a.leave()).toBe(false);
    // leaving is once: a second call does not count the others again
    expect(a.leave()).toBe(false);
  });

  it('does not count an instance whose membership expired (crashed) as remaining', async () => {
    const { clock, a, b } = await twoInstances();
    await a.start();
    await b.start();
    clock.advance(LEASE); // b neither renewed nor left: it crashed
    a.tick();
    expect(b.members().map((m) => m.name)).toEqual(['a']);
    expect(a.leave()).toBe(false);
  });
});

describe('LeaderOnly', () => {
  it('runs the part only while this instance leads, and stops it with the controller', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    cleanups.push(() => { vi.useRealTimers(); });
    const { clock, a, b } = await twoInstances();
    const calls: string[] = [];
    const part = (name: string) => ({
      start: async () => { calls.push(`${name} start`); },
      stop: async () => { calls.push(`${name} stop`); },
    });
    await a.start();
    await b.start();
    const onA = new LeaderOnly(a, part('a'), log);
    const onB = new LeaderOnly(b, part('b'), log);
    await onA.start();
    await onB.start();
    expect(calls).toEqual(['a start']);
    // a does not renew: it stops the part when its lease lapses, before b can take the lease
    clock.advance(LEASE * 2 / 3);
    await vi.advanceTimersByTimeAsync(LEASE * 2 / 3);
    expect(calls).toEqual(['a start', 'a stop']);
    clock.advance(LEASE / 3);
    b.tick();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual(['a start', 'a stop', 'b start']);
    expect([onA.running, onB.running]).toEqual([false, true]);
    await onB.stop();
    expect(calls.at(-1)).toBe('b stop');
  });
});

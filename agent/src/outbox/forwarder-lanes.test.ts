/**
 * The forwarder's lanes, step by step on a link whose PUBACKs the test hands out: critical first and
 * in a window of its own, live records ahead of the backlog, the backlog's share of the window, and
 * the drain rate. forwarder.test.ts runs the same forwarder against a real broker.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { UpKind } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { Listeners } from '../listeners.js';
import { silentLogger } from '../testing/logger.js';
import { Forwarder, type UpLink } from './forwarder.js';
import { MemoryOutbox } from './memory-outbox.js';
import { NO_CAPS, type OutboxCaps } from './outbox.js';
import { eventDraft, predictionDraft } from './suite-drafts.js';

interface Publish {
  readonly kind: UpKind;
  readonly seq: number;
  readonly ack: () => void;
}

class ManualLink implements UpLink {
  connected = false;
  readonly log: Publish[] = [];
  readonly open = new Map<number, Publish>();
  private readonly ups = new Listeners<[]>((err) => {
    throw err;
  });
  private readonly downs = new Listeners<[]>((err) => {
    throw err;
  });

  publish(kind: UpKind, payload: Buffer): Promise<void> {
    const seq = (JSON.parse(payload.toString('utf8')) as { seq: number }).seq;
    return new Promise((resolve) => {
      const p: Publish = {
        kind, seq, ack: () => {
          this.open.delete(seq);
          resolve();
        },
      };
      this.log.push(p);
      this.open.set(seq, p);
    });
  }
  onUp(l: () => void) {
    return this.ups.add(l);
  }
  onDown(l: () => void) {
    return this.downs.add(l);
  }
  up(): void {
    this.connected = true;
    this.ups.emit();
  }
  down(): void {
    this.connected = false;
    this.downs.emit();
  }
  seqs(from = 0): number[] {
    return this.log.slice(from).map((p) => p.seq);
  }
  /** Acknowledges the open publishes whose seqs pass `which` (all by default). */
  ackOpen(which: (seq: number) => boolean = () => true): void {
    for (const p of [...this.open.values()]) if (which(p.seq)) p.ack();
  }
}

// Date.now is faked by vitest's timers, so the token bucket and the timers move together
const clock: Clock = { now: () => Date.now(), monotonic: () => Date.now(), sleep: async () => undefined };

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

async function setup(config: { maxInFlight: number; drainRatePerSecond?: number }, caps?: OutboxCaps) {
  const outbox = new MemoryOutbox({ deviceId: 'edge-1', clock, ...(caps === undefined ? {} : { caps }) });
  outbox.start();
  const link = new ManualLink();
  const forwarder = new Forwarder({ outbox, link, config, clock, log: silentLogger });
  forwarder.start();
  return { outbox, link, forwarder };
}

const tick = () => vi.advanceTimersByTimeAsync(0);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('Forwarder lanes', () => {
  it('after an outage sends critical records first, in a window of their own, then the backlog oldest first', async () => {
    const { outbox, link } = await setup({ maxInFlight: 8, drainRatePerSecond: 1_000 });
    outbox.commit(Array.from({ length: 20 }, () => predictionDraft()));
    outbox.commit([eventDraft(1), eventDraft(2)]);
    link.up();
    await tick();
    expect(link.seqs()).toEqual([21, 22, ...range(1, 8)]);
  });

  it('publishes a new alert at once, even with the routine window full of backlog', async () => {
    const { outbox, link, forwarder } = await setup({ maxInFlight: 8, drainRatePerSecond: 1_000 });
    outbox.commit(Array.from({ length: 100 }, () => predictionDraft()));
    link.up();
    await tick();
    expect(link.seqs()).toEqual(range(1, 8));
    outbox.commit([eventDraft()]);
    await tick();
    expect(link.seqs(8)).toEqual([101]);
    expect(forwarder.stats().byLane).toEqual({ critical: 1, live: 0, backlog: 8 });
  });

  it('gives the next free routine slot to a live record before the backlog', async () => {
    const { outbox, link } = await setup({ maxInFlight: 8, drainRatePerSecond: 1_000 });
    outbox.commit(Array.from({ length: 100 }, () => predictionDraft()));
    link.up();
    await tick();
    outbox.commit([predictionDraft()]);
    await tick();
    expect(link.seqs(8)).toEqual([]);
    link.ackOpen((seq) => seq === 1);
    await tick();
    expect(link.seqs(8)).toEqual([101]);
  });

  it('keeps a quarter of the routine window for the backlog while live records stream', async () => {
    const { outbox, link, forwarder } = await setup({ maxInFlight: 8 });
    outbox.commit(Array.from({ length: 60 }, () => predictionDraft()));
    link.up();
    await tick();
    const backlogOpen = () => [...link.open.keys()].filter((s) => s <= 60).length;
    for (let round = 0; round < 10; round++) {
      // a flood of live records: more than the window every round
      outbox.commit(Array.from({ length: 12 }, () => predictionDraft()));
      link.ackOpen();
      await tick();
      expect(link.open.size).toBe(8);
      if (round > 0) expect(backlogOpen()).toBe(2);
    }
    expect(forwarder.stats().byLane.live).toBeGreaterThan(40);
    expect(forwarder.stats().byLane.backlog).toBeGreaterThanOrEqual(8 + 2 * 9);
  });

  it('drains the backlog no faster than drainRatePerSecond, after a first window', async () => {
    const { outbox, link, forwarder } = await setup({ maxInFlight: 8, drainRatePerSecond: 100 });
    outbox.commit(Array.from({ length: 200 }, () => predictionDraft()));
    link.up();
    await tick();
    const backlogAfter = async (ms: number) => {
      for (let t = 0; t < ms; t += 10) {
        link.ackOpen();
        await vi.advanceTimersByTimeAsync(10);
      }
      return forwarder.stats().byLane.backlog;
    };
    expect(forwarder.stats().byLane.backlog).toBe(8);
    const afterOne = await backlogAfter(1_000);
    expect(afterOne).toBeGreaterThanOrEqual(8 + 98);
    expect(afterOne).toBeLessThanOrEqual(8 + 101);
    expect(await backlogAfter(1_000)).toBeLessThanOrEqual(8 + 201);
    // live records are not held to the rate
    outbox.commit(Array.from({ length: 6 }, () => predictionDraft()));
    link.ackOpen();
    await tick();
    expect(forwarder.stats().byLane.live).toBe(6);
  });

  /** PUBACKs every open publish as it comes, as a broker does, for `ms` of fake time; then the outbox depth. */
  async function ackingFor(parts: { outbox: MemoryOutbox; link: ManualLink }, ms: number): Promise<number> {
    for (let t = 0; t < ms; t += 10) {
      parts.link.ackOpen();
      await vi.advanceTimersByTimeAsync(10);
    }
    return parts.outbox.stats().depth;
  }

  // The last backlog read comes back short (the lane is exhausted) while the bucket allows only part of
  // it: the rest waits in the read-ahead, and with no live record or PUBACK left to pump, only the token
  // timer sends it. It once was not armed for an exhausted lane, and the backlog stalled for good.
  it('drains the whole backlog at the rate after a restart, with nothing else going on', async () => {
    const parts = await setup({ maxInFlight: 8, drainRatePerSecond: 100 });
    parts.outbox.commit(Array.from({ length: 20 }, () => predictionDraft()));
    parts.link.up();
    // 8 at once (the burst), 12 at 100/s: ~120 ms; twice that is plenty, and a stall never ends
    expect(await ackingFor(parts, 250)).toBe(0);
    expect(parts.link.seqs()).toEqual(range(1, 20));
    expect(parts.forwarder.stats().byLane).toEqual({ critical: 0, live: 0, backlog: 20 });
  });

  it('drains the backlog once live records stop, after live commits during the drain', async () => {
    const parts = await setup({ maxInFlight: 8, drainRatePerSecond: 100 });
    parts.outbox.commit(Array.from({ length: 30 }, () => predictionDraft()));
    parts.link.up();
    for (let i = 0; i < 5; i++) {
      parts.outbox.commit([predictionDraft()]);
      await ackingFor(parts, 20);
    }
    expect(await ackingFor(parts, 400)).toBe(0);
    expect(new Set(parts.link.seqs())).toEqual(new Set(range(1, 35)));
  });

  it('drains a backlog left by an outage once the link is back, with no commit after it', async () => {
    const parts = await setup({ maxInFlight: 8, drainRatePerSecond: 100 });
    parts.link.up();
    parts.outbox.commit(Array.from({ length: 3 }, () => predictionDraft()));
    await ackingFor(parts, 20);
    parts.link.down();
    // 28 = 8 + 8 + 8 + 4: the last read of the backlog comes back short with more than a token's worth
    parts.outbox.commit(Array.from({ length: 28 }, () => predictionDraft()));
    await vi.advanceTimersByTimeAsync(1_000);
    parts.link.up();
    expect(await ackingFor(parts, 400)).toBe(0);
    expect(parts.link.seqs()).toEqual(range(1, 31));
  });

  it('drains the backlog at the rate after a stop and a start of the same forwarder', async () => {
    const parts = await setup({ maxInFlight: 8, drainRatePerSecond: 100 });
    parts.outbox.commit(Array.from({ length: 40 }, () => predictionDraft()));
    parts.link.up();
    // the burst went out and the bucket's timer waits for the next token when the forwarder stops
    await ackingFor(parts, 5);
    const stopping = parts.forwarder.stop(10);
    await vi.advanceTimersByTimeAsync(10);
    await stopping;
    parts.forwarder.start();
    expect(await ackingFor(parts, 800)).toBe(0);
    expect(new Set(parts.link.seqs())).toEqual(new Set(range(1, 40)));
  });

  it('after a reconnect resends from the oldest unacknowledged entry of each lane', async () => {
    const { outbox, link } = await setup({ maxInFlight: 4 });
    outbox.commit([predictionDraft(), eventDraft(), predictionDraft(), predictionDraft(), eventDraft()]);
    link.up();
    await tick();
    expect(link.seqs()).toEqual([2, 5, 1, 3, 4]);
    link.ackOpen((seq) => seq === 2 || seq === 3);
    await tick();
    link.connected = false;
    link.up();
    await tick();
    expect(link.seqs(5)).toEqual([5, 1, 4]);
  });

  it('never publishes what a cap evicted from its read-ahead, and a cap passes by what is in flight or acknowledged', async () => {
    const caps: OutboxCaps = { ...NO_CAPS, maxAgeMs: { ...NO_CAPS.maxAgeMs, predictions: 1_000 } };
    const { outbox, link } = await setup({ maxInFlight: 4 }, caps);
    link.up();
    await tick();
    outbox.commit(Array.from({ length: 8 }, () => predictionDraft()));
    await tick();
    expect(link.seqs()).toEqual([1, 2, 3, 4]);
    // one PUBACK: the freed slot reads a window ahead (5-8) and sends 5; 6-8 wait in memory
    link.ackOpen((seq) => seq === 1);
    await tick();
    expect(link.seqs()).toEqual([1, 2, 3, 4, 5]);
    // all of them expire (the clock moves, no timer runs: seq 1 is still not deleted); an event's
    // commit applies the age cap
    vi.setSystemTime(Date.now() + 1_500);
    outbox.commit([eventDraft()]);
    // 2-5 in flight and 1 acknowledged (not yet deleted) are passed by; 6-8 are evicted
    expect(outbox.stats().dropped).toEqual({ 'cap-age:predictions': 3 });
    link.ackOpen();
    await vi.advanceTimersByTimeAsync(100);
    link.ackOpen();
    await vi.advanceTimersByTimeAsync(100);
    expect(link.seqs()).toEqual([1, 2, 3, 4, 5, 9]);
    expect(outbox.stats()).toMatchObject({ depth: 0, delivered: 6 });
  });

  it('says the outbox is drained when a cap evicted what was left, with no PUBACK to come', async () => {
    const { outbox, forwarder } = await setup({ maxInFlight: 8 }, { ...NO_CAPS, maxBytes: 2_000 });
    // offline: nothing is sent
    outbox.commit([predictionDraft(), predictionDraft()]);
    let drained = false;
    void forwarder.drained().then(() => (drained = true));
    // a batch bigger than the cap by itself evicts everything routine, itself included
    outbox.commit([predictionDraft(Array.from({ length: 40 }, () => 0.1))]);
    expect(outbox.stats()).toMatchObject({ depth: 0, dropped: { 'cap-bytes:predictions': 3 } });
    await tick();
    expect(drained).toBe(true);
  });
});

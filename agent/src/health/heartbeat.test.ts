import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { statusSchema, type Status } from '@pdm/protocol';
import { Listeners } from '../listeners.js';
import { Counters } from '../metrics/counters.js';
import { MemoryOutbox } from '../outbox/memory-outbox.js';
import { eventDraft } from '../outbox/outbox.suite.js';
import { FakeClock } from '../testing/fake-clock.js';
import { silentLogger } from '../testing/logger.js';
import { Heartbeat, type StatusLink } from './heartbeat.js';
import { statusBuilder } from './status.js';

class FakeLink implements StatusLink {
  connected = false;
  readonly sent: Status[] = [];
  readonly ups = new Listeners<[]>((err) => {
    throw err;
  });
  async publishPayload(_kind: 'status', payload: Status): Promise<void> {
    this.sent.push(payload);
  }
  onUp(listener: () => void) {
    return this.ups.add(listener);
  }
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('Heartbeat', () => {
  it('publishes a valid status with counters on link up and every interval while up', async () => {
    const clock = new FakeClock();
    const outbox = new MemoryOutbox({ deviceId: 'edge-1', clock });
    outbox.start();
    const counters = new Counters();
    const status = statusBuilder({
      identity: { deviceId: 'edge-1', assetId: 'm3', assetClass: 'pump', site: 'plant', bootId: 'boot' },
      models: () => [{ name: 'tiny', version: '1.0.0', role: 'active' }],
      counters,
      outbox,
      clock,
    });
    const link = new FakeLink();
    const heartbeat = new Heartbeat({ link, status, intervalMs: 30_000, log: silentLogger });
    heartbeat.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(link.sent).toHaveLength(0);

    link.connected = true;
    link.ups.emit();
    counters.readings = 5;
    counters.reject('non-finite');
    outbox.commit([eventDraft(), eventDraft()]);
    outbox.ack([1]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(link.sent).toHaveLength(2);
    const last = link.sent[1]!;
    expect(statusSchema.safeParse(last).success).toBe(true);
    expect(last).toMatchObject({
      state: 'online',
      lastSeq: 2,
      models: [{ name: 'tiny', version: '1.0.0', role: 'active' }],
      counters: {
        readings: 5, rejectedReadings: { 'non-finite': 1 }, outboxDepth: 1, delivered: 1, dropped: {},
        outboxByClass: { critical: 1, metrics: 0, predictions: 0, samples: 0 },
        oldestPending: new Date(clock.now()).toISOString(),
        statesNotStored: 0, stateStoredAt: null, stateNotStoredSince: null,
      },
    });
    expect(last.counters!.outboxQuarantined).toBeUndefined();
    expect(last.counters!.outboxBytes).toBeGreaterThan(0);

    heartbeat.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(link.sent).toHaveLength(2);
  });
});

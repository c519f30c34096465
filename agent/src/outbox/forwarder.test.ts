import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Status } from '@pdm/protocol';
import { systemClock } from '../clock.js';
import { MqttLink } from '../link/mqtt-link.js';
import { TestBroker } from '../testing/broker.js';
import { silentLogger } from '../testing/logger.js';
import { waitFor, within } from '../testing/waiting.js';
import { Forwarder, type ForwarderConfig, type UpLink } from './forwarder.js';
import { eventDraft } from './outbox.suite.js';
import { metricDraft, predictionDraft } from './suite-drafts.js';
import { NO_CAPS } from './outbox.js';
import { SqliteOutbox } from './sqlite-outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-forwarder-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const will: Status = {
  deviceId: 'edge-1', state: 'offline', reason: 'lost', time: '2020-01-01T00:00:00Z', agentVersion: '0.1.0',
  bootId: 'b', assetId: 'm3', assetClass: 'c', site: 's', models: [], lastSeq: 0,
};

/** Wraps the real link to measure how many publishes await a PUBACK at once. */
class CountingLink implements UpLink {
  outstanding = 0;
  maxOutstanding = 0;
  constructor(private readonly link: MqttLink) {}
  get connected(): boolean {
    return this.link.connected;
  }
  async publish(kind: Parameters<UpLink['publish']>[0], payload: Buffer): Promise<void> {
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    try {
      await this.link.publish(kind, payload);
    } finally {
      this.outstanding--;
    }
  }
  onUp(l: () => void) {
    return this.link.onUp(l);
  }
  onDown(l: () => void) {
    return this.link.onDown(l);
  }
}

let n = 0;
/** The agent's defaults (outbox/config.ts): a backlog over 64 records is drained by the token bucket. */
const DEFAULTS: ForwarderConfig = { maxInFlight: 64, drainRatePerSecond: 200 };

async function setup(config: number | ForwarderConfig, file = join(dir, `f${n++}.sqlite`)) {
  const broker = new TestBroker();
  await broker.start();
  cleanup.push(() => broker.stop());
  const outbox = new SqliteOutbox({ file, deviceId: 'edge-1', synchronous: 'NORMAL', clock: systemClock, log: silentLogger });
  outbox.start();
  cleanup.push(() => outbox.stop());
  const link = new MqttLink({
    config: { deviceId: 'edge-1', brokerUrl: broker.url, keepaliveSeconds: 30, connectTimeoutMs: 2000, reconnectInitialMs: 20, reconnectMaxMs: 200 },
    will: () => will,
    clock: systemClock,
    log: silentLogger,
  });
  const counting = new CountingLink(link);
  const forwarder = new Forwarder({
    outbox, link: counting, config: typeof config === 'number' ? { maxInFlight: config } : config, log: silentLogger,
  });
  return { broker, outbox, link, counting, forwarder };
}

function seqsOf(broker: TestBroker, from = 0, kind = 'events'): number[] {
  return broker.published
    .slice(from)
    .filter((p) => p.topic.endsWith(`/up/${kind}`))
    .map((p) => (JSON.parse(p.payload.toString()) as { seq: number }).seq);
}

function start(parts: { link: MqttLink; forwarder: Forwarder }) {
  parts.forwarder.start();
  parts.link.start();
  cleanup.push(() => parts.link.stop(), () => parts.forwarder.stop());
}

describe('Forwarder with a SQLite outbox and a real broker', () => {
  it('delivers records committed while offline in seq order, deleting each after its PUBACK', async () => {
    const parts = await setup(8);
    parts.outbox.commit(Array.from({ length: 50 }, (_, i) => eventDraft(i)));
    start(parts);
    await within(parts.forwarder.drained(), 'outbox drained');
    expect(seqsOf(parts.broker)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(parts.outbox.stats()).toMatchObject({ lastSeq: 50, depth: 0, bytes: 0, delivered: 50 });
    expect(parts.forwarder.stats()).toMatchObject({ published: 50, acked: 50, inFlight: 0 });
  });

  it('keeps at most maxInFlight publishes awaiting a PUBACK', async () => {
    const parts = await setup(8);
    start(parts);
    await waitFor(() => parts.link.connected, 'link up');
    parts.outbox.commit(Array.from({ length: 200 }, (_, i) => eventDraft(i)));
    await within(parts.forwarder.drained(), 'outbox drained');
    expect(parts.counting.maxOutstanding).toBe(8);
    expect(seqsOf(parts.broker)).toHaveLength(200);
  });

  it('publishes live commits as they happen', async () => {
    const parts = await setup(4);
    start(parts);
    await waitFor(() => parts.link.connected, 'link up');
    for (let i = 0; i < 5; i++) parts.outbox.commit([eventDraft(i)]);
    await within(parts.forwarder.drained(), 'outbox drained');
    expect(seqsOf(parts.broker)).toEqual([1, 2, 3, 4, 5]);
  });

  it('loses nothing when the broker stops mid-drain: resends everything unacknowledged, in seq order', async () => {
    const parts = await setup(16);
    const { broker } = parts;
    let stopping: Promise<void> | undefined;
    broker.onPublish = () => {
      if (stopping === undefined && seqsOf(broker).length === 100) stopping = broker.stop();
    };
    parts.outbox.commit(Array.from({ length: 300 }, (_, i) => eventDraft(i)));
    start(parts);
    await waitFor(() => stopping !== undefined, 'broker stopping');
    await stopping;
    await waitFor(() => !parts.link.connected, 'link down');
    const before = seqsOf(broker);
    const unackedWhileDown = parts.outbox.pending({ afterSeq: 0, limit: 1000 }).map((e) => e.seq);
    expect(unackedWhileDown.length).toBeGreaterThan(0);
    broker.onPublish = () => undefined;
    const cut = broker.published.length;
    await broker.start();
    await within(parts.forwarder.drained(), 'outbox drained');
    const after = seqsOf(broker, cut);
    // every seq arrived; after the restart they came strictly in order, from the oldest unacknowledged
    expect(new Set([...before, ...after])).toEqual(new Set(Array.from({ length: 300 }, (_, i) => i + 1)));
    expect(after).toEqual([...after].sort((a, b) => a - b));
    expect(new Set(after).size).toBe(after.length);
    expect(after[0]).toBe(unackedWhileDown[0]);
    expect(after).toEqual(expect.arrayContaining(unackedWhileDown));
    expect(parts.outbox.stats()).toMatchObject({ depth: 0, delivered: 300 });
  });

  it('leaves unacknowledged records in the outbox across a restart of the forwarder', async () => {
    const parts = await setup(8);
    await parts.broker.stop();
    parts.outbox.commit([eventDraft(1), eventDraft(2)]);
    start(parts);
    await parts.forwarder.stop();
    expect(parts.outbox.stats().depth).toBe(2);
    await parts.broker.start();
    const again = new Forwarder({ outbox: parts.outbox, link: parts.counting, config: { maxInFlight: 8 }, log: silentLogger });
    again.start();
    cleanup.push(() => again.stop());
    await within(again.drained(), 'outbox drained');
    expect(seqsOf(parts.broker)).toEqual([1, 2]);
  });

  // A backlog over maxInFlight leaves the bucket a last short read it lets out one by one; it once
  // stalled there, with nothing but the token timer left to send the rest (forwarder-lanes.test.ts).
  it('drains a routine backlog at the default rate after a restart on the same file', async () => {
    const file = join(dir, `f${n++}.sqlite`);
    const before = new SqliteOutbox({ file, deviceId: 'edge-1', synchronous: 'NORMAL', clock: systemClock, log: silentLogger });
    before.start();
    before.commit(Array.from({ length: 300 }, () => metricDraft()));
    before.stop();
    const parts = await setup(DEFAULTS, file);
    expect(parts.outbox.stats().depth).toBe(300);
    start(parts);
    // 64 at once, 236 at 200/s: ~1.2 s
    await within(parts.forwarder.drained(), 'outbox drained', 10_000);
    expect(new Set(seqsOf(parts.broker, 0, 'metrics'))).toEqual(new Set(Array.from({ length: 300 }, (_, i) => i + 1)));
    expect(parts.outbox.stats()).toMatchObject({ depth: 0, delivered: 300 });
  });

  it('delivers everything from a copy of a live outbox (what a SIGKILL leaves), records in flight at the copy included', async () => {
    const liveDir = join(dir, `live${n++}`);
    const copyDir = join(dir, `copy${n++}`);
    mkdirSync(liveDir);
    const running = await setup(DEFAULTS, join(liveDir, 'outbox.sqlite'));
    // a backlog from before the link came up, drained at the rate while live records come
    running.outbox.commit(Array.from({ length: 200 }, () => metricDraft()));
    start(running);
    await waitFor(() => running.link.connected, 'link up');
    let copied: { lastSeq: number; inFlight: number } | undefined;
    for (let i = 0; i < 20; i++) {
      running.outbox.commit(Array.from({ length: 10 }, () => metricDraft()));
      if (i === 10) {
        // right after a commit, as the agent runs; the -shm index is rebuilt from the WAL on open
        cpSync(liveDir, copyDir, { recursive: true, filter: (src) => !src.endsWith('-shm') });
        copied = { lastSeq: running.outbox.stats().lastSeq, inFlight: running.forwarder.stats().inFlight };
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(copied).toMatchObject({ lastSeq: 310 });
    expect(copied?.inFlight).toBeGreaterThan(0);
    const resumed = await setup(DEFAULTS, join(copyDir, 'outbox.sqlite'));
    const pending = resumed.outbox.pending({ afterSeq: 0, limit: 1_000 }).map((e) => e.seq);
    expect(pending.length).toBeGreaterThan(DEFAULTS.maxInFlight);
    start(resumed);
    await within(resumed.forwarder.drained(), 'outbox drained', 10_000);
    expect(new Set(seqsOf(resumed.broker, 0, 'metrics'))).toEqual(new Set(pending));
    expect(resumed.outbox.stats()).toMatchObject({ lastSeq: 310, depth: 0 });
  });

  it('drains a routine backlog committed during an outage once the broker is back, with no commit after it', async () => {
    const parts = await setup(DEFAULTS);
    start(parts);
    await waitFor(() => parts.link.connected, 'link up');
    await parts.broker.stop();
    await waitFor(() => !parts.link.connected, 'link down');
    parts.outbox.commit(Array.from({ length: 300 }, () => metricDraft()));
    await parts.broker.start();
    await within(parts.forwarder.drained(), 'outbox drained', 10_000);
    expect(new Set(seqsOf(parts.broker, 0, 'metrics'))).toEqual(new Set(Array.from({ length: 300 }, (_, i) => i + 1)));
    expect(parts.forwarder.stats().byLane).toMatchObject({ live: 0, backlog: 300 });
  });

  it('says the outbox is drained when a cap evicted what was left while offline', async () => {
    const outbox = new SqliteOutbox({
      file: join(dir, `f${n++}.sqlite`), deviceId: 'edge-1', synchronous: 'NORMAL', caps: { ...NO_CAPS, maxBytes: 2_000 }, clock: systemClock, log: silentLogger,
    });
    outbox.start();
    cleanup.push(() => outbox.stop());
    const offline: UpLink = { connected: false, publish: () => new Promise(() => undefined), onUp: () => () => undefined, onDown: () => () => undefined };
    const forwarder = new Forwarder({ outbox, link: offline, config: DEFAULTS, log: silentLogger });
    forwarder.start();
    cleanup.push(() => forwarder.stop());
    outbox.commit([predictionDraft(), predictionDraft()]);
    const drained = forwarder.drained();
    // bigger than the cap by itself: everything routine is evicted, this batch included, and no PUBACK comes
    outbox.commit([predictionDraft(Array.from({ length: 40 }, () => 0.1))]);
    expect(outbox.stats()).toMatchObject({ depth: 0, dropped: { 'cap-bytes:predictions': 3 } });
    await within(drained, 'outbox drained', 2_000);
  });
});

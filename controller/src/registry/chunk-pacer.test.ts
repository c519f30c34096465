/** The pacer's scheduling, with publishes the test settles by hand (no broker: this is about order and limits). */
import { describe, expect, it } from 'vitest';
import type { FetchRequest } from '@pdm/protocol';
import { ChunkPacer } from './chunk-pacer.js';

const sha = 'a'.repeat(64);
const req = (deviceId: string, offset: number, requestId: string): FetchRequest => ({ deviceId, requestId, sha256: sha, offset, length: 1024 });

function setup(maxInFlight: number, maxWaitMs = 10_000) {
  let now = 0;
  const published: FetchRequest[] = [];
  const settle: (() => void)[] = [];
  const pacer = new ChunkPacer({ maxInFlight, maxWaitMs }, (r) => {
    published.push(r);
    return new Promise<void>((resolve) => settle.push(resolve));
  }, () => now);
  pacer.start();
  const ack = async (): Promise<void> => {
    settle.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { pacer, published, ack, advance: (ms: number) => { now += ms; } };
}

describe('ChunkPacer', () => {
  it('keeps at most maxInFlight answers unacknowledged and sends the rest in arrival order', async () => {
    const { pacer, published, ack } = setup(2);
    for (const d of ['d1', 'd2', 'd3', 'd4']) pacer.enqueue(req(d, 0, `${d}-1`));
    expect(published.map((r) => r.deviceId)).toEqual(['d1', 'd2']);
    expect(pacer.waiting).toBe(2);
    await ack();
    expect(published.map((r) => r.deviceId)).toEqual(['d1', 'd2', 'd3']);
    await ack();
    await ack();
    expect(published.map((r) => r.deviceId)).toEqual(['d1', 'd2', 'd3', 'd4']);
    expect(pacer.inFlight).toBe(1);
  });

  it('merges a repeated request for a waiting range into one answer with the newest request id, in the first one\'s place', async () => {
    const { pacer, published, ack } = setup(1);
    pacer.enqueue(req('d1', 0, 'd1-1'));
    pacer.enqueue(req('d2', 0, 'd2-1'));
    pacer.enqueue(req('d3', 0, 'd3-1'));
    pacer.enqueue(req('d2', 0, 'd2-2')); // d2's chunk timeout ran out while it waited
    pacer.enqueue(req('d3', 65536, 'd3-2')); // another range of d3: its own answer
    expect(pacer.waiting).toBe(3);
    expect(pacer.stats.coalesced).toBe(1);
    for (let i = 0; i < 3; i++) await ack();
    expect(published.map((r) => r.requestId)).toEqual(['d1-1', 'd2-2', 'd3-1', 'd3-2']);
  });

  it('drops a request that waited longer than maxWaitMs, and nothing after stop', async () => {
    const { pacer, published, ack, advance } = setup(1, 1000);
    pacer.enqueue(req('d1', 0, 'd1-1'));
    pacer.enqueue(req('d2', 0, 'd2-1'));
    advance(500);
    pacer.enqueue(req('d3', 0, 'd3-1'));
    advance(600);
    await ack();
    expect(published.map((r) => r.requestId)).toEqual(['d1-1', 'd3-1']);
    expect(pacer.stats.expired).toBe(1);
    pacer.stop();
    pacer.enqueue(req('d4', 0, 'd4-1'));
    await ack();
    expect(published).toHaveLength(2);
    expect(pacer.waiting).toBe(0);
  });

  it('frees the slot of a publish that rejects', async () => {
    let calls = 0;
    const pacer = new ChunkPacer({ maxInFlight: 1, maxWaitMs: 1000 }, () => {
      calls += 1;
      return Promise.reject(new Error('broker gone'));
    });
    pacer.start();
    pacer.enqueue(req('d1', 0, 'a'));
    pacer.enqueue(req('d2', 0, 'b'));
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(2);
    expect(pacer.inFlight).toBe(0);
  });
});

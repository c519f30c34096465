import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PacketSizeGuard } from './packet-guard.js';

/** An MQTT fixed header with a variable-length remaining length [MQTT-2.2.3], and that many body bytes. */
function packet(remaining: number, body = true): Buffer {
  const len: number[] = [];
  let x = remaining;
  do {
    let byte = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) byte |= 0x80;
    len.push(byte);
  } while (x > 0);
  return Buffer.concat([Buffer.from([0x30, ...len]), body ? Buffer.alloc(remaining, 7) : Buffer.alloc(0)]);
}

function setup(max: number) {
  const inner = new PassThrough();
  const oversize: number[] = [];
  const guard = new PacketSizeGuard(inner, max, (n) => oversize.push(n));
  const out: Buffer[] = [];
  guard.on('data', (b: Buffer) => out.push(b));
  guard.on('error', () => undefined);
  return { inner, guard, oversize, out };
}

const flushed = () => new Promise((resolve) => setImmediate(resolve));

describe('PacketSizeGuard', () => {
  it('passes packets up to the limit unchanged, however the bytes are split', async () => {
    const { inner, oversize, out, guard } = setup(200);
    const bytes = Buffer.concat([packet(0), packet(127), packet(128), packet(200)]);
    for (const b of bytes) inner.write(Buffer.from([b]));
    await flushed();
    expect(Buffer.concat(out).equals(bytes)).toBe(true);
    expect(oversize).toEqual([]);
    expect(guard.destroyed).toBe(false);
  });

  it('cuts the connection when a packet announces more, before its body arrives', async () => {
    const { inner, oversize, out, guard } = setup(16_384);
    inner.write(packet(10));
    const header = packet(16_385, false);
    inner.write(header.subarray(0, 2));
    inner.write(header.subarray(2));
    await flushed();
    expect(oversize).toEqual([16_385]);
    expect(guard.destroyed).toBe(true);
    expect(inner.destroyed).toBe(true);
    // what came before the oversized header went through; nothing of its (never sent) body did
    expect(Buffer.concat(out).subarray(0, packet(10).length).equals(packet(10))).toBe(true);
    expect(Buffer.concat(out).length).toBeLessThanOrEqual(packet(10).length + 2);
  });

  it('reads a 4-byte remaining length (up to 256 MB)', async () => {
    const { inner, oversize } = setup(1024);
    inner.write(packet(200_000_000, false));
    await flushed();
    expect(oversize).toEqual([200_000_000]);
  });
});

describe('PacketSizeGuard writes', () => {
  /** A connection that records each write it is asked for: one entry per _write or _writev call. */
  function recordingInner() {
    const calls: Buffer[][] = [];
    const inner = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        calls.push([chunk]);
        setImmediate(callback);
      },
      writev(chunks, callback) {
        calls.push(chunks.map((c) => c.chunk as Buffer));
        setImmediate(callback);
      },
    });
    return { inner, calls };
  }

  it('passes what was written while corked to the connection as one write, in order', async () => {
    const { inner, calls } = recordingInner();
    const guard = new PacketSizeGuard(inner, 1024, () => undefined);
    const pieces = Array.from({ length: 12 }, (_v, i) => Buffer.from([0x40, 0x02, 0, i]));
    guard.cork();
    for (const p of pieces) guard.write(p);
    guard.uncork();
    await new Promise((resolve) => guard.write(Buffer.from([0xd0, 0]), resolve));
    expect(calls[0]).toEqual(pieces);
    expect(Buffer.concat(calls.flat()).equals(Buffer.concat([...pieces, Buffer.from([0xd0, 0])]))).toBe(true);
  });

  it('calls each corked write back once, only after the connection wrote its last piece', async () => {
    // a connection without _writev that completes each write when the test says so: a callback
    // passed on with the wrong piece would come early, one passed with every piece would come twice
    const pending: (() => void)[] = [];
    let written = 0;
    const inner = new Duplex({
      read() {},
      write(_chunk: Buffer, _encoding, callback) {
        pending.push(() => { written += 1; callback(); });
      },
    });
    const guard = new PacketSizeGuard(inner, 1024, () => undefined);
    const errors: unknown[] = [];
    guard.on('error', (err) => errors.push(err));
    const PIECES = 5;
    const calledAt: number[][] = Array.from({ length: PIECES }, () => []);
    guard.cork();
    for (let i = 0; i < PIECES; i++) guard.write(Buffer.from([0x40, 0x02, 0, i]), () => calledAt[i]!.push(written));
    guard.uncork();
    for (let done = 0; done < PIECES; done++) {
      await flushed();
      expect(pending.length, `piece ${done} handed to the connection`).toBe(1);
      pending.shift()!();
    }
    await flushed();
    expect(pending).toEqual([]);
    expect(calledAt).toEqual(Array.from({ length: PIECES }, () => [PIECES]));
    expect(errors).toEqual([]);
  });

  it('reports a failed write of the connection to the writer', async () => {
    const inner = new Duplex({ read() {}, write: (_c, _e, callback) => callback(new Error('EPIPE (simulated)')) });
    inner.on('error', () => undefined);
    const guard = new PacketSizeGuard(inner, 1024, () => undefined);
    guard.on('error', () => undefined);
    guard.cork();
    guard.write(Buffer.from([1]));
    const failed = new Promise<unknown>((resolve) => guard.write(Buffer.from([2]), resolve));
    guard.uncork();
    expect(await failed).toBeInstanceOf(Error);
  });
});

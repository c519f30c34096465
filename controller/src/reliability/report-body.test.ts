/**
 * A report body (report-body.ts): the bytes written, in order, in one buffer of exactly the body's size
 * that holds nothing else, so that a kept body holds only its bytes and the worker can transfer it.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ByteSlabs } from './kept-bytes.js';
import { BodyWriter } from './report-body.js';

/** The body's buffer holds exactly its bytes: no chunk, no slab, no pool behind it. */
function expectExact(body: Uint8Array): void {
  expect(body.byteOffset).toBe(0);
  expect(body.buffer).toBeInstanceOf(ArrayBuffer);
  expect(body.buffer.byteLength).toBe(body.byteLength);
}

describe('report body', () => {
  it('holds the bytes written, in order, in a buffer of exactly its size', () => {
    const slabs = new ByteSlabs();
    // kept pieces long enough to be referenced until body(), and short ones copied
    const [a, b] = ['a', 'b'].map((ch) => slabs.copy([Buffer.from(ch.repeat(2000))]));
    const big = `"${'\u00e9'.repeat(40_000)}"`;
    const w = new BodyWriter();
    const expected: Buffer[] = [];
    const text = (t: string) => (w.text(t), expected.push(Buffer.from(t)));
    const push = (p: Uint8Array) => (w.push(p), expected.push(Buffer.from(p)));
    text('{"x":[');
    push(a!);
    push(b!.subarray(0, 10));
    push(Buffer.from('-'.repeat(3000)));
    text('"\u00e9\u{1F6E0}"');
    // a text too long for a chunk, then enough short pieces to fill several chunks of 256 KB
    text(big);
    for (let i = 0; i < 3000; i++) {
      push(b!.subarray(0, 100 + (i % 50)));
      text(`,${i},`);
    }
    text(']}');
    const body = w.body();
    const all = Buffer.concat(expected);
    expect(Buffer.compare(Buffer.from(body), all)).toBe(0);
    expectExact(body);
    // a piece kept between renders may change after the body is made: the body copied it
    a!.fill(0x7a);
    expect(Buffer.compare(Buffer.from(body), all)).toBe(0);
  });

  // (a report's CSV is one string encoded by TextEncoder in reliability-service.ts, not written here)
  it('is an exact buffer for one short text and for nothing written', () => {
    const w = new BodyWriter();
    w.text('{"groups":[],"p\u00e9riode":1}');
    const short = w.body();
    expect(Buffer.from(short).toString('utf8')).toBe('{"groups":[],"p\u00e9riode":1}');
    expectExact(short);
    const empty = new BodyWriter().body();
    expect(empty.byteLength).toBe(0);
    expectExact(empty);
  });

  it('goes to another thread without a copy: its one buffer transferred', () => {
    const w = new BodyWriter();
    w.text('{"a":"');
    w.push(new ByteSlabs().copy([Buffer.from('k'.repeat(4096))]));
    w.text('"}');
    const body = w.body();
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(body, [body.buffer]);
    const received = receiveMessageOnPort(port2)!.message as Uint8Array;
    port1.close();
    expect(Buffer.from(received).toString('utf8')).toBe(`{"a":"${'k'.repeat(4096)}"}`);
    // moved: detached here
    expect(body.byteLength).toBe(0);
  });
});

/**
 * A report body of parts (report-body.ts): its stream gives the bytes written, in order; parts side by
 * side in one shared slab are one part; short or unshared parts are copied into the body's own chunks,
 * so that the report worker posts a body without copying a byte (views shared, chunks transferred).
 */
import { buffer } from 'node:stream/consumers';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ByteSlabs } from './kept-bytes.js';
import { BodyWriter, bodyBuffers, bodyBytes, bodyStream, coalesced, textBody, type ReportBody } from './report-body.js';


describe('report body', () => {
  it('streams the bytes written, joining parts that sit side by side and copying short or unshared ones', async () => {
    const slabs = new ByteSlabs(true);
    // three kept texts side by side in one slab, each long enough to be kept as a view
    const [a, b, c] = ['a', 'b', 'c'].map((ch) => slabs.copy([Buffer.from(ch.repeat(2000))]));
    const w = new BodyWriter();
    w.text('{"x":[');
    w.push(a!);
    w.push(b!);
    w.push(Buffer.from('-'.repeat(3000)));
    w.push(c!);
    w.push(c!.subarray(0, 10));
    w.text('"\u00e9\u{1F6E0}"]}');
    const body = w.body();
    const expected = Buffer.concat([Buffer.from('{"x":['), a!, b!, Buffer.from('-'.repeat(3000)), c!, c!.subarray(0, 10), Buffer.from('"\u00e9\u{1F6E0}"]}')]);
    expect(body.byteLength).toBe(expected.byteLength);
    expect(Buffer.compare(await buffer(bodyStream(body)), expected)).toBe(0);
    expect(Buffer.compare(Buffer.from(bodyBytes(body)), expected)).toBe(0);
    // the views of the shared slab, and one chunk of the body's own (never Node's 8 KB pool) for the rest
    expect(bodyBuffers(body).map((b) => b.byteLength)).toEqual([256 * 1024]);
    expect(body.parts.every((p) => p.buffer === a!.buffer || p.buffer === bodyBuffers(body)[0])).toBe(true);
    // '{"x":[' copied; a+b one view of the slab; the unshared dashes copied; c a view; its 10 bytes and the text copied
    expect(body.parts.map((p) => p.byteLength)).toEqual([6, 4000, 3000, 2000, 10 + Buffer.byteLength('"\u00e9\u{1F6E0}"]}')]);
    expect(body.parts[1]!.buffer).toBe(a!.buffer);
  });

  it('is empty with nothing written, and one part for one text', async () => {
    expect(new BodyWriter().body()).toEqual({ parts: [], byteLength: 0 });
    expect((await buffer(bodyStream(new BodyWriter().body()))).byteLength).toBe(0);
    const csv = textBody('key,assets\r\nasset-1,1\r\n');
    expect(csv.parts.length).toBe(1);
    expect(Buffer.from(bodyBytes(csv)).toString('utf8')).toBe('key,assets\r\nasset-1,1\r\n');
  });

  it('coalesces a body of many parts into buffers of 1 MB of its own, the same bytes in the same order', async () => {
    const slabs = new ByteSlabs(true);
    const w = new BodyWriter();
    const pieces: Buffer[] = [];
    // 2.5 MB: kept views of 2 KB and short text between them (copied), as a report by asset writes them
    for (let i = 0; w.body().byteLength < 2.5 * 1024 * 1024; i++) {
      const kept = slabs.copy([Buffer.from(`${i % 10}`.repeat(2048))]);
      w.push(kept);
      w.text(`,\u00e9${i},`);
      pieces.push(Buffer.from(kept), Buffer.from(`,\u00e9${i},`));
    }
    const body = w.body();
    expect(body.parts.length).toBeGreaterThan(1000);
    const one = await coalesced(body);
    expect(one.byteLength).toBe(body.byteLength);
    expect(one.parts.map((p) => p.byteLength)).toEqual([1024 * 1024, 1024 * 1024, body.byteLength - 2 * 1024 * 1024]);
    for (const p of one.parts) expect(p.buffer instanceof SharedArrayBuffer).toBe(false);
    expect(Buffer.compare(await buffer(bodyStream(one)), Buffer.concat(pieces))).toBe(0);
    // nothing to coalesce: the body itself
    const csv = textBody('a,b\r\n');
    expect(await coalesced(csv)).toBe(csv);
  });

  it('goes to another thread without a copy: its views of shared slabs shared, its own chunks transferred', async () => {
    const kept = new ByteSlabs(true).copy([Buffer.from('k'.repeat(4096))]);
    const w = new BodyWriter();
    w.text('{"a":"');
    w.push(kept);
    w.text('"}');
    const body = w.body();
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(body, bodyBuffers(body));
    const received = receiveMessageOnPort(port2)!.message as ReportBody;
    port1.close();
    expect(Buffer.from(bodyBytes(received)).toString('utf8')).toBe(`{"a":"${'k'.repeat(4096)}"}`);
    // the chunk moved (detached here), the kept view is the same memory on both sides
    expect(body.parts[0]!.byteLength).toBe(0);
    expect(body.parts[1]!.byteLength).toBe(4096);
    kept[0] = 'z'.charCodeAt(0);
    expect(received.parts[1]![0]).toBe('z'.charCodeAt(0));
  });
});

/**
 * A report's response body as a list of byte parts, instead of one buffer. The JSON report by asset of
 * 10,000 assets is 48 MB: copying it into a buffer of its own per render (and its 10,000 groups into
 * one each) was ~40% of a render's CPU with the garbage collection it caused (bench:reports profile,
 * bench/RESULTS.md). Here the long parts kept between renders in shared memory (each asset's trend
 * buckets, report-json.ts KeptGroups) are views; parts that sit side by side in one buffer are joined
 * into one view; short parts and text are copied into chunks of the body's own. The report worker
 * posts a body with its views shared and its chunks transferred: the post copies no byte. The controller's
 * thread then coalesces it into buffers of 1 MB (coalesced()) to keep and send.
 */
import { Readable } from 'node:stream';

export interface ReportBody {
  /** The body's bytes in order: as rendered, views of shared slabs and the body's own chunks; coalesced(), buffers of 1 MB. */
  readonly parts: readonly Uint8Array[];
  readonly byteLength: number;
}

/** Parts shorter than this are copied into the body's own chunk (a part per short piece of text would be ~20,000 parts). */
const COPY_BELOW = 1024;
const CHUNK_BYTES = 256 * 1024;

/**
 * Builds a ReportBody part by part. Copied bytes and text go into the body's own chunk, one run of it a
 * part: a report by asset writes ~60,000 pieces, and a view or a check per piece was ~20% of a render.
 */
export class BodyWriter {
  readonly #parts: Uint8Array[] = [];
  #size = 0;
  /** The body's own chunk of copied parts and text, filled forward; [#start, #used) is not a part yet. */
  #chunk: Buffer = Buffer.allocUnsafeSlow(0);
  #start = 0;
  #used = 0;

  /** A part of the body, kept as a view when long and shared (its bytes must not change afterwards), else copied. */
  push(part: Uint8Array): void {
    const n = part.byteLength;
    if (n === 0) return;
    this.#size += n;
    if (n < COPY_BELOW || !(part.buffer instanceof SharedArrayBuffer)) {
      this.#room(n);
      this.#chunk.set(part, this.#used);
      this.#used += n;
      return;
    }
    this.#close();
    const last = this.#parts.at(-1);
    // a part that follows the last one in the same buffer: one view of both
    if (last !== undefined && last.buffer === part.buffer && last.byteOffset + last.byteLength === part.byteOffset) {
      this.#parts[this.#parts.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.byteLength + n);
    } else this.#parts.push(part);
  }

  /** Text of the body, as UTF-8. */
  text(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    this.#room(text.length * 3);
    const written = this.#chunk.write(text, this.#used, 'utf8');
    this.#used += written;
    this.#size += written;
  }

  body(): ReportBody {
    this.#close();
    return { parts: this.#parts, byteLength: this.#size };
  }

  /** The chunk's bytes written since the last part, as a part. */
  #close(): void {
    if (this.#used === this.#start) return;
    this.#parts.push(this.#chunk.subarray(this.#start, this.#used));
    this.#start = this.#used;
  }

  /** At least `bytes` free in the chunk: a new one when fewer are left. */
  #room(bytes: number): void {
    if (this.#chunk.length - this.#used >= bytes) return;
    this.#close();
    // a buffer of its own, never Node's shared pool: transferred from the worker, nothing else in it
    this.#chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, bytes));
    this.#start = 0;
    this.#used = 0;
  }
}

/** The buffers of a body's own chunks, to transfer (its other parts are views of shared slabs). */
export function bodyBuffers(body: ReportBody): ArrayBuffer[] {
  const own = new Set<ArrayBuffer>();
  for (const p of body.parts) if (!(p.buffer instanceof SharedArrayBuffer)) own.add(p.buffer);
  return [...own];
}

/** A body of one text (the CSV). */
export function textBody(text: string): ReportBody {
  const w = new BodyWriter();
  w.text(text);
  return w.body();
}

/** The size of the buffers a body is coalesced into (coalesced()). */
const COALESCED_BYTES = 1024 * 1024;

/**
 * The body's bytes copied into buffers of 1 MB of its own, one yield to the event loop after each, for
 * the controller's thread to keep and send: a body of ~20,000 views cost ~60 ms more to write to a
 * socket than a few large buffers (bench:reports: the kept 48 MB body 82 ms p50 against 24), and a
 * body that holds views keeps the worker's shared slabs alive until this thread's next full GC (RSS
 * 1,332 MiB against 735). Copied here, not in the worker: there 48 MB of new buffers per render made
 * the GC of its large heap ~30% of a render (V8 CPU profile, 2026-11-27).
 */
export async function coalesced(body: ReportBody): Promise<ReportBody> {
  if (body.parts.length <= 1) return body;
  const parts: Uint8Array[] = [];
  let chunk = Buffer.allocUnsafeSlow(Math.min(COALESCED_BYTES, body.byteLength));
  let used = 0;
  let left = body.byteLength;
  for (const part of body.parts) {
    // Buffer's copy (memmove): TypedArray set() from views of shared memory took twice as long (190 MB of
    // a worker's body: 61 ms against ~30, a throw-away script, 2026-11-27)
    const from = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    for (let at = 0; at < from.byteLength;) {
      const n = from.copy(chunk, used, at, Math.min(from.byteLength, at + chunk.length - used));
      used += n;
      at += n;
      if (used < chunk.length) continue;
      parts.push(chunk);
      left -= used;
      chunk = Buffer.allocUnsafeSlow(Math.min(COALESCED_BYTES, Math.max(left, 1)));
      used = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  if (used > 0) parts.push(chunk.subarray(0, used));
  return { parts, byteLength: body.byteLength };
}

/** The body as a stream of its parts, for a response: piped with backpressure, no part copied. */
export function bodyStream(body: ReportBody): Readable {
  return Readable.from(body.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)), { objectMode: false });
}

/** The body's bytes in one buffer (tests, the CLI's in-process reports). */
export function bodyBytes(body: ReportBody): Uint8Array {
  return Buffer.concat(body.parts, body.byteLength);
}

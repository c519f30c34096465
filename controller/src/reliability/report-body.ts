/**
 * A report's response body as a list of byte parts, written to the socket one after the other instead
 * of copied into one buffer. The JSON report by asset of 10,000 assets is 48 MB: copying it into a
 * buffer of its own per render (and its 10,000 groups into one each) was ~40% of a render's CPU with
 * the garbage collection it caused (bench:reports profile, bench/RESULTS.md). Here most parts are views
 * of kept bytes (kept-bytes.ts); parts that sit side by side in one buffer are joined into one view, and
 * short or unshared parts are copied into shared chunks of the body's own, so a body has few parts
 * (~20,000 for the 48 MB report: two per asset) and every part is in a SharedArrayBuffer: the report worker posts it to
 * the controller's thread without copying a byte (report-worker.ts).
 */
import { Readable } from 'node:stream';

export interface ReportBody {
  /** The body's bytes in order; each a view of a SharedArrayBuffer. */
  readonly parts: readonly Uint8Array[];
  readonly byteLength: number;
}

/** Parts shorter than this are copied into the body's own chunk (a part per short piece of text would be ~20,000 parts). */
const COPY_BELOW = 1024;
const CHUNK_BYTES = 64 * 1024;

/**
 * Builds a ReportBody part by part. Copied bytes and text go into the body's own chunk, one run of it a
 * part: a report by asset writes ~60,000 pieces, and a view or a check per piece was ~20% of a render.
 */
export class BodyWriter {
  readonly #parts: Uint8Array[] = [];
  #size = 0;
  /** The body's own chunk of copied parts and text, filled forward; [#start, #used) is not a part yet. */
  #chunk: Buffer = Buffer.from(new SharedArrayBuffer(0));
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
    this.#chunk = Buffer.from(new SharedArrayBuffer(Math.max(CHUNK_BYTES, bytes)));
    this.#start = 0;
    this.#used = 0;
  }
}

/** A body of one text (the CSV). */
export function textBody(text: string): ReportBody {
  const w = new BodyWriter();
  w.text(text);
  return w.body();
}

/** The body as a stream of its parts, for a response: piped with backpressure, no part copied. */
export function bodyStream(body: ReportBody): Readable {
  return Readable.from(body.parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)), { objectMode: false });
}

/** The body's bytes in one buffer (tests, the CLI's in-process reports). */
export function bodyBytes(body: ReportBody): Uint8Array {
  return Buffer.concat(body.parts, body.byteLength);
}

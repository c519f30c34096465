/**
 * A report's response body as a list of byte parts, written to the socket one after the other instead
 * of copied into one buffer. The JSON report by asset of 10,000 assets is 48 MB: copying it into a
 * buffer of its own per render (and its 10,000 groups into one each) was ~40% of a render's CPU with
 * the garbage collection it caused (bench:reports profile, bench/RESULTS.md). Here most parts are views
 * of kept bytes (kept-bytes.ts); parts that sit side by side in one buffer are joined into one view, and
 * short or unshared parts are copied into shared chunks of the body's own, so a body has few parts
 * (~1,000 for the 48 MB report) and every part is in a SharedArrayBuffer: the report worker posts it to
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
const encoder = new TextEncoder();

/** Builds a ReportBody part by part. */
export class BodyWriter {
  readonly #parts: Uint8Array[] = [];
  #size = 0;
  /** The body's own chunk of copied parts and text, filled forward. */
  #chunk: Uint8Array<SharedArrayBuffer> = new Uint8Array(new SharedArrayBuffer(0));
  #used = 0;

  /** A part of the body, kept as a view when long and shared (its bytes must not change afterwards), else copied. */
  push(part: Uint8Array): void {
    if (part.byteLength === 0) return;
    if (this.#joins(part) || (part.byteLength >= COPY_BELOW && part.buffer instanceof SharedArrayBuffer)) this.#append(part);
    else {
      const room = this.#room(part.byteLength);
      room.set(part);
      this.#append(this.#take(part.byteLength));
    }
  }

  /** Text of the body, as UTF-8. */
  text(text: string): void {
    const { written } = encoder.encodeInto(text, this.#room(text.length * 3));
    if (written > 0) this.#append(this.#take(written));
  }

  body(): ReportBody {
    return { parts: this.#parts, byteLength: this.#size };
  }

  /** True when `part` follows the last part in the same buffer (the two are one view). */
  #joins(part: Uint8Array): boolean {
    const last = this.#parts.at(-1);
    return last !== undefined && last.buffer === part.buffer && last.byteOffset + last.byteLength === part.byteOffset;
  }

  #append(part: Uint8Array): void {
    this.#size += part.byteLength;
    const last = this.#parts.at(-1);
    if (last !== undefined && this.#joins(part)) this.#parts[this.#parts.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.byteLength + part.byteLength);
    else this.#parts.push(part);
  }

  #room(bytes: number): Uint8Array {
    if (this.#chunk.length - this.#used < bytes) {
      this.#chunk = new Uint8Array(new SharedArrayBuffer(Math.max(CHUNK_BYTES, bytes)));
      this.#used = 0;
    }
    return this.#chunk.subarray(this.#used);
  }

  #take(bytes: number): Uint8Array {
    const out = this.#chunk.subarray(this.#used, this.#used + bytes);
    this.#used += bytes;
    return out;
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

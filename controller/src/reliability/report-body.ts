/**
 * A report's response body, written piece by piece and copied once into one buffer of exactly its size.
 *
 * A page of 1000 assets is ~5 MB at 10,000 assets (every asset: CSV or pdmctl --all), written as ~6,000
 * pieces (the unpaged report by asset was 48 MB in ~60,000): each asset's kept trend buckets
 * (report-json.ts KeptGroups), its short kept figure JSON and text between them. Pieces kept between
 * renders are referenced, not copied, until the end; short pieces and text go into scratch chunks,
 * one run of a chunk a part: a part (a view) per short piece was a large share of a render's profile.
 * body() then copies the parts into one buffer of the body's size: the report worker transfers it to
 * the controller's thread (no copy), which keeps it (report-jobs.ts counts its byteLength, which is
 * all the memory it holds) and sends it.
 */

/** Pieces shorter than this are copied into a scratch chunk (a part per short piece would be ~20,000 parts). */
const COPY_BELOW = 1024;
const CHUNK_BYTES = 256 * 1024;
/** Text that could take more than this many bytes is encoded on its own rather than into a chunk. */
const OWN_TEXT_BYTES = CHUNK_BYTES / 4;

export class BodyWriter {
  readonly #parts: Uint8Array[] = [];
  #size = 0;
  /** The scratch chunk of copied pieces and text, filled forward; [#start, #used) is not a part yet. */
  #chunk: Buffer = Buffer.alloc(0);
  #start = 0;
  #used = 0;

  /** A piece of the body; a long one is referenced until body(), so its bytes must not change before. */
  push(part: Uint8Array): void {
    const n = part.byteLength;
    if (n === 0) return;
    this.#size += n;
    if (n >= COPY_BELOW) {
      this.#close();
      this.#parts.push(part);
      return;
    }
    this.#room(n);
    this.#chunk.set(part, this.#used);
    this.#used += n;
  }

  /** Text of the body, as UTF-8. */
  text(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    const most = text.length * 3;
    if (most > OWN_TEXT_BYTES) {
      this.#close();
      const own = Buffer.from(text, 'utf8');
      this.#parts.push(own);
      this.#size += own.byteLength;
      return;
    }
    this.#room(most);
    const written = this.#chunk.write(text, this.#used, 'utf8');
    this.#used += written;
    this.#size += written;
  }

  /** The body: the parts copied into one buffer of its own (never Node's pool) of exactly its size. */
  body(): Uint8Array<ArrayBuffer> {
    this.#close();
    const out = Buffer.allocUnsafeSlow(this.#size);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return new Uint8Array(out.buffer, 0, this.#size);
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
    this.#chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
    this.#start = 0;
    this.#used = 0;
  }
}

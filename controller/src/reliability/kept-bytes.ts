/**
 * Text as UTF-8 bytes to keep between renders (per-asset figure JSON, model-version entries, each
 * asset's trend buckets but the last in a report by asset), written into slabs that
 * hold kept bytes only.
 *
 * Buffer.from(string), and Buffer.copyBytesFrom() too, give a string under 4 KB as a slice of Node's
 * shared 8 KB pool slab (Node 20: `.buffer.byteLength` 8192), which a render's transient parts fill as
 * well: one kept entry pinned the whole slab with them. An ArrayBuffer per entry (TextEncoder.encode) is
 * worse: ~200 bytes of backing store and object per entry. Measured with a throw-away script, 280,000
 * kept entries of ~265 bytes (70.7 MiB) with 20,000 replaced and 20,000 transient parts per round, 40
 * rounds, after GC: RSS 209-214 MiB pooled, 273-275 MiB one ArrayBuffer each, 199 MiB in kept-only slabs
 * (2026-11-27, load 7-9). A slab still lives while any of its entries is kept; its other entries are
 * kept bytes replaced since, not a render's garbage.
 */
const SLAB_BYTES = 64 * 1024;
/** Texts that could take more than this many bytes get an ArrayBuffer of their own (a slab holds 8 at least). */
const OWN_BYTES = SLAB_BYTES / 8;
const encoder = new TextEncoder();

/** A sequence of kept-only slabs, filled forward; its owner drops them all by dropping it (report-json.ts KeptGroups, per period layout). */
export class ByteSlabs {
  #slab: Uint8Array = new Uint8Array(0);
  #used = 0;

  /** `text` as UTF-8 in a slab (or a buffer of its own when long). */
  text(text: string): Uint8Array {
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    const most = text.length * 3;
    if (most > OWN_BYTES) return encoder.encode(text);
    const { written } = encoder.encodeInto(text, this.#room(most));
    return this.#take(written);
  }

  /** The bytes of `parts` one after the other, copied into a slab (or a buffer of its own when long). */
  copy(parts: readonly Uint8Array[]): Uint8Array {
    let size = 0;
    for (const p of parts) size += p.byteLength;
    const out = size > OWN_BYTES ? new Uint8Array(size) : this.#room(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return size > OWN_BYTES ? out : this.#take(size);
  }

  /** The free bytes of the current slab, a new slab when fewer than `bytes` are left. */
  #room(bytes: number): Uint8Array {
    if (this.#slab.length - this.#used < bytes) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#used = 0;
    }
    return this.#slab.subarray(this.#used);
  }

  #take(bytes: number): Uint8Array {
    const out = this.#slab.subarray(this.#used, this.#used + bytes);
    this.#used += bytes;
    return out;
  }
}

/** The slabs of kept figure JSON and model-version entries, process-wide as Node's pool is (each worker thread has its own). */
const slabs = new ByteSlabs();

export function keptBytes(text: string): Uint8Array {
  return slabs.text(text);
}

/** The size of a slab of kept bytes (kept-bytes.test.ts tells them from Node's 8 KB pool slabs). */
export const KEPT_SLAB_BYTES = SLAB_BYTES;

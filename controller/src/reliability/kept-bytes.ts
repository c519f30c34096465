/**
 * Text as UTF-8 bytes to keep between renders (per-asset figure JSON, model-version entries), written
 * into slabs that hold kept bytes only.
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

/** The slab being filled, process-wide as Node's pool is (each worker thread has its own). */
let slab = new Uint8Array(0);
let used = 0;

export function keptBytes(text: string): Uint8Array {
  // UTF-8 takes at most 3 bytes per UTF-16 unit
  const most = text.length * 3;
  if (most > OWN_BYTES) return encoder.encode(text);
  if (slab.length - used < most) {
    slab = new Uint8Array(SLAB_BYTES);
    used = 0;
  }
  const { written } = encoder.encodeInto(text, slab.subarray(used));
  const out = slab.subarray(used, used + written);
  used += written;
  return out;
}

/** The size of a slab of kept bytes (kept-bytes.test.ts tells them from Node's 8 KB pool slabs). */
export const KEPT_SLAB_BYTES = SLAB_BYTES;

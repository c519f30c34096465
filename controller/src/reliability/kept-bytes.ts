/**
 * Text as UTF-8 bytes to keep between renders, in an ArrayBuffer of their own. Buffer.from(string) and
 * Buffer.copyBytesFrom() give a string under 4 KB as a slice of Node's shared 8 KB pool slab (measured on
 * Node 20: `.buffer.byteLength` 8192), so one kept entry pins the whole slab, with whatever else was
 * written into it, for as long as the entry is kept. TextEncoder.encode() allocates exactly the bytes.
 */
const encoder = new TextEncoder();

export function keptBytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * The framing the agent's snapshots share (features/window-tail.ts, quality/drift-state.ts): u32 LE
 * header length, the header as JSON, blanks up to a multiple of 8 bytes, then float64 LE values. The
 * header says what the values are; it changes rarely, so a snapshot builds its prefix once and writes
 * the values after it (`frameValues`), in place where the machine is little-endian.
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';

/** A header is a few hundred bytes; a length past this is corruption, not a header. */
const MAX_HEADER_BYTES = 64 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';

/** Where the float64 values start after a header of `headerBytes`. */
const valuesAt = (headerBytes: number): number => Math.ceil((4 + headerBytes) / 8) * 8;

/** What a snapshot's header names its source by (a spec, a model's drift references): 16 hex digits of the JSON's sha256. */
export const shortHash = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

/** The length, the header's JSON and the blanks: the bytes before the values. */
export function framePrefix(header: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(valuesAt(json.length), ' ');
  prefix.writeUInt32LE(json.length, 0);
  json.copy(prefix, 4);
  return prefix;
}

/** The header (parsed JSON, not yet validated) and where the values start; throws a RangeError saying what is wrong. */
export function readFrame(raw: Buffer): { header: unknown; at: number } {
  if (raw.length < 4) throw new RangeError(`${raw.length} bytes: too short`);
  const headerBytes = raw.readUInt32LE(0);
  if (headerBytes > MAX_HEADER_BYTES || 4 + headerBytes > raw.length) throw new RangeError(`header length ${headerBytes} does not fit ${raw.length} bytes`);
  try {
    return { header: JSON.parse(raw.toString('utf8', 4, 4 + headerBytes)), at: valuesAt(headerBytes) };
  } catch (err) {
    throw new RangeError(`header is not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** `prefix`, then `count` float64 LE values that `fill` writes into the array it is handed. */
export function frameValues(prefix: Buffer, count: number, fill: (out: Float64Array) => void): Buffer {
  const value = Buffer.from(new ArrayBuffer(prefix.length + 8 * count));
  prefix.copy(value, 0);
  // the prefix is a multiple of 8 bytes and the buffer starts its own ArrayBuffer: aligned
  const out = LITTLE_ENDIAN ? new Float64Array(value.buffer, prefix.length, count) : new Float64Array(count);
  fill(out);
  if (!LITTLE_ENDIAN) out.forEach((v, i) => value.writeDoubleLE(v, prefix.length + 8 * i));
  return value;
}

/** `count` float64 LE values of `raw` from byte `at`. */
export function readValues(raw: Buffer, at: number, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = raw.readDoubleLE(at + 8 * i);
  return out;
}

/**
 * The framing the agent's snapshots share (features/window-tail.ts, quality/drift-state.ts): u32 LE
 * header length, the header as JSON, blanks up to a multiple of 8 bytes, then float64 LE values. The
 * header says what the values are; it changes rarely, so a snapshot builds its prefix once and copies
 * the values after it, in one go where the machine is little-endian (`LITTLE_ENDIAN`).
 */
import { endianness } from 'node:os';

/** A header is a few hundred bytes; a length past this is corruption, not a header. */
export const MAX_HEADER_BYTES = 64 * 1024;
export const LITTLE_ENDIAN = endianness() === 'LE';

/** Where the float64 values start after a header of `headerBytes`. */
export const valuesAt = (headerBytes: number): number => Math.ceil((4 + headerBytes) / 8) * 8;

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

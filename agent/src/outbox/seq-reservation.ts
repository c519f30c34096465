/**
 * Seqs must never repeat, even when the outbox database is lost (set aside as corrupt, or deleted by
 * hand): the controller stores on (deviceId, seq), and a reused seq with other bytes is refused as a
 * conflict. So a small file beside the database holds a seq no record has reached yet. It is moved
 * ahead in blocks (one atomic write per RESERVE_BLOCK seqs, not one per commit), and a fresh database
 * starts after it. The price of a lost database is a gap of less than one block at the controller.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { deviceIdSchema } from '@pdm/protocol';

export const RESERVE_BLOCK = 10_000;

const reservationSchema = z.strictObject({
  deviceId: deviceIdSchema,
  /** Every seq up to this one may have been used. */
  reservedThrough: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

export class SeqReservation {
  private through = 0;

  constructor(private readonly file: string, private readonly deviceId: string) {}

  /**
   * Reads the reservation; 0 when there is none, it is unreadable or it names another device (whose
   * seqs do not matter to this one). Unreadable is not fatal: the database's own last_seq still holds.
   */
  load(): number {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return (this.through = 0);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return (this.through = 0);
    }
    const r = reservationSchema.safeParse(parsed);
    this.through = r.success && r.data.deviceId === this.deviceId ? r.data.reservedThrough : 0;
    return this.through;
  }

  get reservedThrough(): number {
    return this.through;
  }

  /** Makes sure every seq up to `seq` is reserved before a record with it is committed. */
  cover(seq: number): void {
    if (seq <= this.through) return;
    const next = seq + RESERVE_BLOCK;
    writeDurably(this.file, `${JSON.stringify({ deviceId: this.deviceId, reservedThrough: next })}\n`);
    this.through = next;
  }
}

/** Temp file, fsync, rename over the old one, fsync the directory: the file is old or new, never torn. */
function writeDurably(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text);
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

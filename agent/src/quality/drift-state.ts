/**
 * The drift windows across a restart. Every commit that changes them carries one snapshot of the
 * counts of every tracker (per model version and role: the open window and the closed ones not yet
 * published, with their rows and bin counts), replacing the one before, in the outbox transaction of
 * that commit's records (Outbox.commit's states, beside the feature-window tail): the prediction batch
 * whose rows it counted, or the drift records of the windows it no longer holds. So after a SIGKILL it
 * describes exactly the predictions that are durable and the windows not published yet.
 *
 * A stored tracker is taken back when the same model version runs in the same role, with the same
 * reference bins (a hash of the card's references), the same window length, and the source resumed at
 * or after the last row it counted (a replay from before it would count rows twice). Anything else
 * (unreadable, another asset, window length or resume point, other bins, a model that does not run
 * now) is logged and ignored: those windows are lost, as they were before snapshots.
 *
 * Layout: u32 LE header length, the header as JSON (validated by `headerSchema`), blanks up to a
 * multiple of 8 bytes, then float64 LE: the bin counts of every window of every tracker, in header order.
 */
import { endianness } from 'node:os';
import type { Logger } from 'pino';
import { z } from 'zod';
import { describeIssues, modelRefSchema, modelRoleSchema, type ModelRef, type ModelRole } from '@pdm/protocol';
import type { Outbox, StateWrite } from '../outbox/outbox.js';
import type { DriftWindowState, DriftWindows } from './drift-windows.js';

/** What the quality monitor needs: the windows to start from, and the state write that keeps the current ones. */
export interface DriftKeeper {
  /** The stored windows of `model` in `role` if they were counted on `drift`'s references; each is handed out once. */
  restore(model: ModelRef, role: ModelRole, drift: DriftWindows): RestoredDrift | undefined;
  /** Logs and forgets the stored trackers of models other than `running` (monitor keys): nothing will claim them. */
  forgetUnclaimed(running: ReadonlySet<string>): void;
  /** The snapshot of `trackers`' windows, holding the rows counted through event time `through`. */
  snapshot(through: number | undefined, trackers: Iterable<DriftTracker>): StateWrite;
}

export interface DriftTracker {
  readonly model: ModelRef;
  readonly role: ModelRole;
  readonly drift: DriftWindows | undefined;
}

export interface RestoredDrift {
  /** Event time of the last row the snapshot counted (of any tracker). */
  readonly through: number;
  readonly windows: readonly DriftWindowState[];
}

export interface DriftStateDeps {
  readonly outbox: Pick<Outbox, 'state'>;
  readonly assetId: string;
  /** Length of a drift window (quality.driftWindowSeconds) in ms: windows of another length do not line up. */
  readonly windowMs: number;
  /** The event time the source resumed after, or undefined when it started from its first row. */
  readonly resumedAfter: () => number | undefined;
  readonly log: Logger;
}

const windowSchema = z.strictObject({ start: z.number().int(), n: z.number().int().positive() });
const trackerSchema = z.strictObject({
  model: modelRefSchema,
  role: modelRoleSchema,
  /** DriftWindows.fingerprint of the references the counts were binned on. */
  references: z.string(),
  cells: z.number().int().positive().max(1_000_000),
  windows: z.array(windowSchema).min(1),
});
const headerSchema = z.strictObject({
  schemaVersion: z.literal(1),
  assetId: z.string(),
  windowMs: z.number().positive(),
  through: z.number().int().optional(),
  trackers: z.array(trackerSchema),
});
type Header = z.output<typeof headerSchema>;

interface Stored {
  readonly through: number;
  readonly references: string;
  readonly cells: number;
  readonly windows: DriftWindowState[];
}

const MAX_HEADER_BYTES = 64 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';
/** The monitor's tracker key (monitor.ts keyOf). */
const keyOf = (model: ModelRef, role: ModelRole): string => `${model.name}\u0000${model.version}\u0000${role}`;

export class DriftState implements DriftKeeper {
  /** The trackers of the snapshot read at start, not claimed yet; null until read. */
  private stored: Map<string, Stored> | null = null;
  private readonly key: string;

  constructor(private readonly deps: DriftStateDeps) {
    this.key = `drift:${deps.assetId}`;
  }

  restore(model: ModelRef, role: ModelRole, drift: DriftWindows): RestoredDrift | undefined {
    const stored = this.read();
    const key = keyOf(model, role);
    const entry = stored.get(key);
    if (entry === undefined) return undefined;
    stored.delete(key);
    if (entry.references !== drift.fingerprint || entry.cells !== drift.cells) {
      this.deps.log.warn({ model, role }, 'drift snapshot taken on other reference bins; its windows are ignored');
      return undefined;
    }
    const open = entry.windows[entry.windows.length - 1]!;
    this.deps.log.info({ model, role, windows: entry.windows.length, n: open.n, start: new Date(open.start).toISOString() }, 'drift windows restored');
    return { through: entry.through, windows: entry.windows };
  }

  forgetUnclaimed(running: ReadonlySet<string>): void {
    const stored = this.read();
    for (const [key, entry] of stored) {
      if (running.has(key)) continue;
      stored.delete(key);
      const [name, version, role] = key.split('\u0000');
      const rows = entry.windows.reduce((n, w) => n + w.n, 0);
      this.deps.log.warn({ model: { name, version }, role, windows: entry.windows.length, rows }, 'drift windows of a model that does not run now are ignored');
    }
  }

  snapshot(through: number | undefined, trackers: Iterable<DriftTracker>): StateWrite {
    const entries: Header['trackers'] = [];
    const counts: Float64Array[] = [];
    for (const t of trackers) {
      const windows = t.drift?.windows() ?? [];
      if (windows.length === 0) continue;
      entries.push({ model: t.model, role: t.role, references: t.drift!.fingerprint, cells: t.drift!.cells, windows: windows.map((w) => ({ start: w.start, n: w.n })) });
      for (const w of windows) counts.push(w.counts);
    }
    const header: Header = {
      schemaVersion: 1, assetId: this.deps.assetId, windowMs: this.deps.windowMs, ...(through === undefined ? {} : { through }), trackers: entries,
    };
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const at = Math.ceil((4 + json.length) / 8) * 8;
    const cells = counts.reduce((n, c) => n + c.length, 0);
    const value = Buffer.from(new ArrayBuffer(at + 8 * cells));
    value.writeUInt32LE(json.length, 0);
    json.copy(value, 4);
    value.fill(' ', 4 + json.length, at);
    let offset = at;
    for (const c of counts) {
      // the buffer starts its own ArrayBuffer and `at` is a multiple of 8: aligned
      if (LITTLE_ENDIAN) new Float64Array(value.buffer, offset, c.length).set(c);
      else for (let i = 0; i < c.length; i++) value.writeDoubleLE(c[i]!, offset + 8 * i);
      offset += 8 * c.length;
    }
    return { key: this.key, value };
  }

  /** The stored trackers, read and checked once; empty (logged) when absent, unreadable or not for this run. */
  private read(): Map<string, Stored> {
    if (this.stored !== null) return this.stored;
    this.stored = new Map();
    const { log, assetId, windowMs, outbox } = this.deps;
    let raw: Buffer | undefined;
    let header: Header;
    let counts: Float64Array;
    try {
      raw = outbox.state(this.key);
      if (raw === undefined) return this.stored;
      ({ header, counts } = decode(raw));
    } catch (err) {
      log.warn({ problem: err instanceof Error ? err.message : String(err), bytes: raw?.length }, 'drift snapshot unreadable; drift windows start empty');
      return this.stored;
    }
    const { through, trackers } = header;
    if (trackers.length === 0) return this.stored;
    const ignored = (why: string, level: 'info' | 'warn' = 'warn'): Map<string, Stored> => {
      log[level]({ why, trackers: trackers.length }, 'drift snapshot ignored; drift windows start empty');
      return this.stored!;
    };
    if (header.assetId !== assetId) return ignored('taken for another asset');
    if (header.windowMs !== windowMs) return ignored('taken with another drift window length');
    const after = this.deps.resumedAfter();
    // a replay from the first row (source.resume false) is asked for: worth an info line, not a warning
    if (after === undefined) return ignored('the source did not resume', 'info');
    if (through === undefined || after < through) return ignored('the source resumed before the last row it counted');
    let offset = 0;
    for (const t of trackers) {
      const windows = t.windows.map((w) => ({ ...w, counts: counts.subarray(offset, (offset += t.cells)) }));
      this.stored.set(keyOf(t.model, t.role), { through, references: t.references, cells: t.cells, windows });
    }
    return this.stored;
  }
}

/** Header and counts of a stored snapshot; throws saying what is wrong with it. */
function decode(raw: Buffer): { header: Header; counts: Float64Array } {
  if (raw.length < 4) throw new RangeError(`${raw.length} bytes: too short`);
  const headerBytes = raw.readUInt32LE(0);
  if (headerBytes > MAX_HEADER_BYTES || 4 + headerBytes > raw.length) throw new RangeError(`header length ${headerBytes} does not fit ${raw.length} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8', 4, 4 + headerBytes));
  } catch (err) {
    throw new RangeError(`header is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) throw new RangeError(`header: ${describeIssues(parsed.error)}`);
  const header = parsed.data;
  const at = Math.ceil((4 + headerBytes) / 8) * 8;
  const cells = header.trackers.reduce((n, t) => n + t.cells * t.windows.length, 0);
  if (raw.length - at !== 8 * cells) throw new RangeError(`${raw.length - at} bytes after the header, ${8 * cells} expected for ${cells} counts`);
  const counts = new Float64Array(cells);
  for (let i = 0; i < cells; i++) counts[i] = raw.readDoubleLE(at + 8 * i);
  let offset = 0;
  for (const t of header.trackers) {
    let start = Number.NEGATIVE_INFINITY;
    for (const w of t.windows) {
      if (w.start <= start || w.start % header.windowMs !== 0) throw new RangeError(`window start ${w.start} of ${t.model.name} ${t.model.version} ${t.role} is not after the last one or not on a window boundary`);
      start = w.start;
      for (let i = offset; i < offset + t.cells; i++) {
        const c = counts[i]!;
        // a bin never holds more rows than its window
        if (!Number.isInteger(c) || c < 0 || c > w.n) throw new RangeError(`count ${c} of ${t.model.name} ${t.model.version} ${t.role} (window of ${w.n} rows) is no count`);
      }
      offset += t.cells;
    }
  }
  return { header, counts };
}

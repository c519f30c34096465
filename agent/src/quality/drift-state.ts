/**
 * The drift windows across a restart. Every commit that changes them carries one snapshot of the
 * counts of every tracker (per model version and role: the open window and the closed ones not yet
 * published, with their rows and bin counts), replacing the one before, in the outbox transaction of
 * that commit's records (Outbox.commit's states, beside the feature-window tail): the prediction batch
 * whose rows it counted, or the drift records of the windows it no longer holds. Every commit that
 * carries the feature-window tail carries one too, so the stored resume point never runs past rows the
 * stored counts miss (a commit shed on a full disk may leave both behind, never the counts alone). So
 * after a SIGKILL it describes exactly the predictions that are durable and the windows not published yet.
 *
 * Each snapshot keeps the reading mark it was taken at (time and how many readings at that time, as
 * the tail's): a stored tracker is taken back when the source resumed at exactly that mark (before it
 * the replay would count rows twice, after it rows would be missing), the same model version runs in
 * the same role, with the same reference bins (a hash of the card's references) and the same window
 * length. Anything else (unreadable, another asset, window length or resume point, other bins, a model
 * that does not run now) is logged and ignored: those windows are lost, as they were before snapshots.
 * Stored trackers not claimed yet (their model has not scored since the start) go on in every snapshot
 * until claimed or let go (`forgetUnclaimed`).
 *
 * Layout (outbox/state-frame.ts): the header as JSON (validated by `headerSchema`: the trackers and the
 * starts of their windows, so the same bytes while no window opens or closes, built once for them),
 * then float64: the reading mark (time, count; NaN, 0 for none), then for every window of every tracker
 * in header order its rows and its bin counts.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { describeIssues, modelRefSchema, modelRoleSchema, type ModelRef, type ModelRole } from '@pdm/protocol';
import type { Mark } from '../features/window-tail.js';
import type { Outbox, StateWrite } from '../outbox/outbox.js';
import { framePrefix, frameValues, readFrame, readValues } from '../outbox/state-frame.js';
import { readSnapshot, resumeMismatch } from '../stored-snapshot.js';
import type { DriftWindowState, DriftWindows } from './drift-windows.js';

/** What the quality monitor needs: the windows to start from, and the state write that keeps the current ones. */
export interface DriftKeeper {
  /** The stored windows of `model` in `role` if they were counted on `drift`'s references; each is handed out once. */
  restore(model: ModelRef, role: ModelRole, drift: DriftWindows): readonly DriftWindowState[] | undefined;
  /** The keys (trackerKey) of the stored trackers not claimed yet. */
  storedKeys(): ReadonlySet<string>;
  /** Logs and forgets the stored trackers of models other than `running` (trackerKey): nothing will claim them. */
  forgetUnclaimed(running: ReadonlySet<string>): void;
  /**
   * The snapshot of `trackers`' windows and of the stored ones not claimed yet, holding the rows of the
   * readings through `mark` (the pipeline's reading mark; undefined before the first reading).
   */
  snapshot(mark: Mark | undefined, trackers: Iterable<DriftTracker>): StateWrite;
}

export interface DriftTracker {
  readonly model: ModelRef;
  readonly role: ModelRole;
  readonly drift: DriftWindows | undefined;
}

export interface DriftStateDeps {
  readonly outbox: Pick<Outbox, 'state'>;
  readonly assetId: string;
  /** Length of a drift window (quality.driftWindowSeconds) in ms: windows of another length do not line up. */
  readonly windowMs: number;
  /** The reading mark the source resumed after, or undefined when it started from its first row. */
  readonly resumedAfter: () => Mark | undefined;
  readonly log: Logger;
}

const trackerSchema = z.strictObject({
  model: modelRefSchema,
  role: modelRoleSchema,
  /** DriftWindows.fingerprint of the references the counts were binned on. */
  references: z.string(),
  cells: z.number().int().positive().max(1_000_000),
  /** Starts of the windows held, oldest first. */
  windows: z.array(z.number().int()).min(1),
});
const headerSchema = z.strictObject({
  // 2: the reading mark (time, count) in place of the time of the last row counted
  schemaVersion: z.literal(2),
  assetId: z.string(),
  windowMs: z.number().positive(),
  trackers: z.array(trackerSchema),
});
type Header = z.output<typeof headerSchema>;

interface Stored {
  readonly model: ModelRef;
  readonly role: ModelRole;
  readonly references: string;
  readonly cells: number;
  readonly windows: DriftWindowState[];
}

/** Floats before the windows: the reading mark's time and count. */
const MARK_VALUES = 2;

/** The key of a tracker (per model version and role): the monitor's, and the quality journal's (journal.ts builds it in SQL). */
export const trackerKey = (model: ModelRef, role: ModelRole): string => `${model.name}\u0000${model.version}\u0000${role}`;

/** One tracker's part of a snapshot: a live one's windows, or a stored one's not claimed yet. */
interface Part {
  /** What the layout compares by identity: the live tracker, or the stored entry. */
  readonly source: object;
  readonly model: ModelRef;
  readonly role: ModelRole;
  readonly references: string;
  readonly cells: number;
  readonly windows: readonly DriftWindowState[];
}

/** The windows of the parts a header describes, and the header's bytes (length, JSON, blanks). */
interface Layout {
  readonly sources: readonly object[];
  readonly starts: readonly number[];
  readonly prefix: Buffer;
}

export class DriftState implements DriftKeeper {
  /** The trackers of the snapshot read at start, not claimed yet; null until read. */
  private stored: Map<string, Stored> | null = null;
  private readonly key: string;
  private layout: Layout | undefined;

  constructor(private readonly deps: DriftStateDeps) {
    this.key = `drift:${deps.assetId}`;
  }

  restore(model: ModelRef, role: ModelRole, drift: DriftWindows): readonly DriftWindowState[] | undefined {
    const stored = this.read();
    const key = trackerKey(model, role);
    const entry = stored.get(key);
    if (entry === undefined) return undefined;
    stored.delete(key);
    if (entry.references !== drift.fingerprint || entry.cells !== drift.cells) {
      this.deps.log.warn({ model, role }, 'drift snapshot taken on other reference bins; its windows are ignored');
      return undefined;
    }
    const open = entry.windows[entry.windows.length - 1]!;
    this.deps.log.info({ model, role, windows: entry.windows.length, n: open.n, start: new Date(open.start).toISOString() }, 'drift windows restored');
    return entry.windows;
  }

  storedKeys(): ReadonlySet<string> {
    return new Set(this.read().keys());
  }

  forgetUnclaimed(running: ReadonlySet<string>): void {
    const stored = this.read();
    for (const [key, entry] of stored) {
      if (running.has(key)) continue;
      stored.delete(key);
      const rows = entry.windows.reduce((n, w) => n + w.n, 0);
      this.deps.log.warn({ model: entry.model, role: entry.role, windows: entry.windows.length, rows }, 'drift windows of a model that does not run now are ignored');
    }
  }

  snapshot(mark: Mark | undefined, trackers: Iterable<DriftTracker>): StateWrite {
    const parts: Part[] = [];
    for (const t of trackers) {
      const ws = t.drift?.windows() ?? [];
      if (ws.length > 0) parts.push({ source: t, model: t.model, role: t.role, references: t.drift!.fingerprint, cells: t.drift!.cells, windows: ws });
    }
    // a stored tracker not claimed yet holds the same rows at this mark: its model has scored none since
    for (const entry of this.read().values()) parts.push({ source: entry, ...entry });
    const prefix = this.prefixOf(parts);
    const floats = MARK_VALUES + parts.reduce((n, p) => n + p.windows.length * (1 + p.cells), 0);
    const value = frameValues(prefix, floats, (out) => {
      out[0] = mark?.time ?? Number.NaN;
      out[1] = mark?.count ?? 0;
      let i = MARK_VALUES;
      for (const p of parts) {
        for (const w of p.windows) {
          out[i] = w.n;
          out.set(w.counts, i + 1);
          i += 1 + w.counts.length;
        }
      }
    });
    return { key: this.key, value };
  }

  /** The header's bytes for these parts: the last ones while the parts and their window starts stay. */
  private prefixOf(parts: readonly Part[]): Buffer {
    const last = this.layout;
    if (last !== undefined && last.sources.length === parts.length && parts.every((p, i) => last.sources[i] === p.source)) {
      let i = 0;
      const same = parts.every((p) => p.windows.every((w) => last.starts[i++] === w.start)) && i === last.starts.length;
      if (same) return last.prefix;
    }
    const header: Header = {
      schemaVersion: 2, assetId: this.deps.assetId, windowMs: this.deps.windowMs,
      trackers: parts.map((p) => ({ model: p.model, role: p.role, references: p.references, cells: p.cells, windows: p.windows.map((w) => w.start) })),
    };
    const prefix = framePrefix(header);
    this.layout = { sources: parts.map((p) => p.source), starts: parts.flatMap((p) => p.windows.map((w) => w.start)), prefix };
    return prefix;
  }

  /** The stored trackers, read and checked once; empty (logged) when absent, unreadable or not for this run. */
  private read(): Map<string, Stored> {
    if (this.stored !== null) return this.stored;
    this.stored = new Map();
    const { log, assetId, windowMs, outbox } = this.deps;
    const read = readSnapshot({ outbox, log }, this.key, decode, {
      outboxFailed: 'drift snapshot not read: outbox failed; drift windows start empty', unreadable: 'drift snapshot unreadable; drift windows start empty',
    });
    if (read === undefined) return this.stored;
    const { header, mark, windows } = read;
    const { trackers } = header;
    if (trackers.length === 0) return this.stored;
    const ignored = (why: string, level: 'info' | 'warn' = 'warn'): Map<string, Stored> => {
      log[level]({ why, trackers: trackers.length }, 'drift snapshot ignored; drift windows start empty');
      return this.stored!;
    };
    if (header.assetId !== assetId) return ignored('taken for another asset');
    if (header.windowMs !== windowMs) return ignored('taken with another drift window length');
    const mismatch = resumeMismatch(this.deps.resumedAfter(), mark);
    if (mismatch !== undefined) return ignored(mismatch.why, mismatch.level);
    trackers.forEach((t, i) => {
      this.stored!.set(trackerKey(t.model, t.role), { model: t.model, role: t.role, references: t.references, cells: t.cells, windows: windows[i]! });
    });
    return this.stored;
  }
}

/** Header, reading mark and windows (per tracker, in header order) of a stored snapshot; throws saying what is wrong with it. */
function decode(raw: Buffer): { header: Header; mark: Mark | undefined; windows: DriftWindowState[][] } {
  const frame = readFrame(raw);
  const parsed = headerSchema.safeParse(frame.header);
  if (!parsed.success) throw new RangeError(`header: ${describeIssues(parsed.error)}`);
  const header = parsed.data;
  const floats = MARK_VALUES + header.trackers.reduce((n, t) => n + (1 + t.cells) * t.windows.length, 0);
  if (raw.length - frame.at !== 8 * floats) throw new RangeError(`${raw.length - frame.at} bytes after the header, ${8 * floats} expected`);
  const all = readValues(raw, frame.at, floats);
  let read = 0;
  const next = (): number => all[read++]!;
  const time = next();
  const count = next();
  const noMark = Number.isNaN(time) && count === 0;
  if (!noMark && !(Number.isSafeInteger(time) && Number.isSafeInteger(count) && count >= 1)) throw new RangeError(`reading mark ${time} x ${count} is no time and count`);
  const windows = header.trackers.map((t) => {
    const what = `${t.model.name} ${t.model.version} ${t.role}`;
    return t.windows.map((start, i) => {
      if (i > 0 && start <= t.windows[i - 1]!) throw new RangeError(`window starts of ${what} are not ascending`);
      if (start % header.windowMs !== 0) throw new RangeError(`window start ${start} of ${what} is not on a window boundary`);
      const n = next();
      if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${n} rows in a window of ${what}`);
      const counts = new Float64Array(t.cells);
      for (let c = 0; c < t.cells; c++) {
        const v = next();
        // a bin never holds more rows than its window
        if (!Number.isInteger(v) || v < 0 || v > n) throw new RangeError(`count ${v} of ${what} (window of ${n} rows) is no count`);
        counts[c] = v;
      }
      return { start, n, counts };
    });
  });
  return { header, mark: noMark ? undefined : { time, count }, windows };
}

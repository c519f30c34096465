/**
 * The eviction policy both outboxes share, as pure planning over a view of the stored entries: past an
 * age cap a routine class loses its entries older than the cap; past the bytes cap routine classes lose
 * their oldest entries in `evictionOrder` (samples, then predictions, then metrics) until the store fits.
 * Critical records are never planned for eviction. A plan names, per class, the highest seq to remove:
 * victims are always the oldest run of their class, so one range delete removes them.
 */
import {
  evictionOrder, emptyByClass, type DropCause, type OutboxCaps, type RecordClass, type RoutineClass, dropReason,
} from './outbox.js';

export interface StoredEntry {
  readonly seq: number;
  readonly bytes: number;
  readonly committedAt: number;
}

/**
 * What the planner reads: the oldest entries of one class, in seq order, how many it holds, and which
 * are being delivered right now (published, awaiting their PUBACK): those are passed by, since evicting
 * a record on its way would count it dropped although it arrives.
 */
export interface EvictionView {
  oldest(recordClass: RoutineClass, afterSeq: number, limit: number): readonly StoredEntry[];
  depth(recordClass: RoutineClass): number;
  inFlight(seq: number): boolean;
}

export interface Victims {
  readonly recordClass: RoutineClass;
  /** Every entry of the class with a seq up to this one goes, but those in `except` (in flight). */
  readonly throughSeq: number;
  readonly except: readonly number[];
  readonly count: number;
  readonly bytes: number;
  readonly reason: string;
}

// a scan reads one row first (most commits find nothing to evict), then larger batches
const FIRST_SCAN = 1;
const MAX_SCAN = 1024;

/**
 * The outbox's counters as one value. A write copies it, changes the copy inside the transaction and
 * keeps the copy only once the transaction has committed, so a rolled-back write leaves no trace.
 */
export class Tally {
  lastSeq = 0;
  delivered = 0;
  byClass = emptyByClass();
  dropped: Record<string, number> = {};

  get depth(): number {
    let n = 0;
    for (const c of Object.values(this.byClass)) n += c.depth;
    return n;
  }

  get bytes(): number {
    let n = 0;
    for (const c of Object.values(this.byClass)) n += c.bytes;
    return n;
  }

  /** A copy of depth and bytes per class (the stats callers may keep it). */
  classStats(): Record<RecordClass, { depth: number; bytes: number }> {
    const { critical, metrics, predictions, samples } = this.byClass;
    return { critical: { ...critical }, metrics: { ...metrics }, predictions: { ...predictions }, samples: { ...samples } };
  }

  clone(): Tally {
    const t = new Tally();
    t.lastSeq = this.lastSeq;
    t.delivered = this.delivered;
    t.byClass = this.classStats();
    t.dropped = { ...this.dropped };
    return t;
  }

  added(recordClass: RecordClass, bytes: number): void {
    this.byClass[recordClass].depth++;
    this.byClass[recordClass].bytes += bytes;
  }

  removed(recordClass: RecordClass, count: number, bytes: number): void {
    this.byClass[recordClass].depth -= count;
    this.byClass[recordClass].bytes -= bytes;
  }

  drop(reason: string, count: number): void {
    if (count > 0) this.dropped[reason] = (this.dropped[reason] ?? 0) + count;
  }

  evicted(v: Victims): void {
    this.removed(v.recordClass, v.count, v.bytes);
    this.drop(v.reason, v.count);
  }
}

/** Entries of each routine class that waited longer than the class's age cap. */
export function planAgeEviction(view: EvictionView, caps: OutboxCaps, now: number): Victims[] {
  const plans: Victims[] = [];
  for (const recordClass of evictionOrder) {
    const maxAge = caps.maxAgeMs[recordClass];
    if (!Number.isFinite(maxAge) || view.depth(recordClass) === 0) continue;
    // seq order is commit order; after a wall-clock step back the oldest by seq may look young, and
    // eviction by age then waits for it rather than scanning the whole class (bounded work per commit)
    const plan = scan(view, recordClass, 'cap-age', (e) => now - e.committedAt > maxAge);
    if (plan !== undefined) plans.push(plan);
  }
  return plans;
}

/**
 * Oldest routine entries, lowest class first, until at most `targetBytes` remain (or only critical
 * entries are left). `tallyBytes` is the payload bytes held now.
 */
export function planBytesEviction(view: EvictionView, tallyBytes: number, targetBytes: number, cause: DropCause): Victims[] {
  const plans: Victims[] = [];
  let excess = tallyBytes - targetBytes;
  for (const recordClass of evictionOrder) {
    if (excess <= 0) break;
    if (view.depth(recordClass) === 0) continue;
    const plan = scan(view, recordClass, cause, (e) => {
      if (excess <= 0) return false;
      excess -= e.bytes;
      return true;
    });
    if (plan !== undefined) plans.push(plan);
  }
  return plans;
}

/**
 * Walks the class from its oldest entry while `take` says yes, passing by entries in flight; what was
 * taken becomes one plan (a range, minus the entries in flight inside it).
 */
function scan(view: EvictionView, recordClass: RoutineClass, cause: DropCause, take: (e: StoredEntry) => boolean): Victims | undefined {
  let seen = 0;
  let throughSeq = 0;
  let count = 0;
  let bytes = 0;
  const passed: number[] = [];
  for (let size = FIRST_SCAN; ; size = Math.min(MAX_SCAN, size * 8)) {
    const batch = view.oldest(recordClass, seen, size);
    let stopped = false;
    for (const e of batch) {
      seen = e.seq;
      if (view.inFlight(e.seq)) {
        passed.push(e.seq);
        continue;
      }
      if (!take(e)) {
        stopped = true;
        break;
      }
      throughSeq = e.seq;
      count++;
      bytes += e.bytes;
    }
    if (stopped || batch.length < size) break;
  }
  if (count === 0) return undefined;
  return { recordClass, throughSeq, except: passed.filter((seq) => seq < throughSeq), count, bytes, reason: dropReason(cause, recordClass) };
}

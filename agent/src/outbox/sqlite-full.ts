/**
 * The SQLite outbox on a full disk or at its `maxFileBytes` cap (SQLITE_FULL), and the states it keeps
 * beside its records (Outbox.commit's `state`: the feature-window tail, the drift windows, the metric
 * windows), written in the records' transaction, also for a commit of states alone. States rank below
 * every record: on SQLITE_FULL they are left out first and the records retried alone. Then room is made
 * for the records (makeRoom) and the commit retried; with nothing routine left the routine drafts are
 * shed (counted) and the critical ones retried; only critical records that still do not fit fail
 * (OUTBOX_FAILED). After a commit that left states out (`statesLeftOut`), a commit of records that finds
 * no room for its states first evicts routine records for records and states together (sized by those
 * states), once, as routine records are evicted for any newer data at the cap; otherwise a state
 * larger than MIN_ROOM_BYTES would never get in at a cap full of routine records, and its resume point
 * would freeze. A commit of states alone evicts nothing. Whether the states are current (state-watch.ts)
 * is told to the outbox's StateWatch, and the time it dates the resume point by is recorded in the commit that stores them.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { PdmError } from '@pdm/protocol';
import { planBytesEviction, type EvictionView, type Tally, type Victims } from './eviction.js';
import { dropReason, recordClassOf, type Committed, type OutboxEntry, type RecordDraft, type StateWrite } from './outbox.js';
import { STATES_STORED_AT, type Statements } from './sqlite-schema.js';
import type { StateWatch } from './state-watch.js';

/** Each disk-full round frees at least this much (or twice the commit), so a run of commits does not evict one row at a time. */
const MIN_ROOM_BYTES = 64 * 1024;
const MAX_FULL_ROUNDS = 64;

/** Whether SQLite refused a write for want of room (the disk or the file's cap). */
const isFull = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'SQLITE_FULL';

/** The bytes the states' values take. */
const stateBytes = (states: readonly StateWrite[]): number => states.reduce((n, st) => n + st.value.byteLength, 0);

/** What the policy uses of the outbox (sqlite-outbox.ts), which keeps the database and the counters. */
export interface FullDiskHost {
  readonly file: string;
  readonly log: Logger;
  readonly giveUpSpace: (() => boolean) | undefined;
  /** Warnings given once per reason, shared with the outbox's evictions. */
  readonly warned: Set<string>;
  readonly db: () => Database.Database;
  readonly sql: () => Statements;
  /** The counters as last committed. */
  readonly tally: () => Tally;
  /** Whether the states are current: told every commit of states. */
  readonly states: () => StateWatch;
  /** Runs `fn` in one transaction on a copy of the counters; the outbox keeps the copy once committed. */
  readonly write: (critical: boolean, fn: (t: Tally) => void) => void;
  readonly evict: (t: Tally, v: Victims) => void;
  readonly view: (t: Tally) => EvictionView;
  readonly encode: (drafts: readonly RecordDraft[], committedAt: number) => OutboxEntry[];
  readonly insert: (t: Tally, entries: readonly OutboxEntry[]) => void;
  readonly reserve: (seq: number) => void;
  readonly failed: (cause: unknown) => PdmError;
}

export class FullDiskPolicy {
  /** The last commit with states left them out: the next commit of records that finds no room makes room for its states too, once. */
  private statesLeftOut = false;

  constructor(private readonly host: FullDiskHost) {}

  /** Records and states in one transaction, by the policy above; the entries committed. */
  commit(drafts: readonly RecordDraft[], states: readonly StateWrite[], committedAt: number): Committed {
    const host = this.host;
    let batch = drafts;
    let entries = host.encode(batch, committedAt);
    let kept = states;
    let roomForStatesTried = false;
    for (let round = 0; entries.length > 0 || kept.length > 0; round++) {
      if (entries.length > 0) host.reserve(entries[entries.length - 1]!.seq);
      try {
        host.write(entries.some((e) => e.recordClass === 'critical'), (t) => {
          if (entries.length > 0) host.insert(t, entries);
          for (const st of kept) host.sql().putState.run(st.key, st.value);
          // in the states' own transaction: after a restart it still dates the resume point stored
          if (host.states().dates(kept)) host.sql().putMeta.run(STATES_STORED_AT, committedAt);
        });
        break;
      } catch (err) {
        if (!isFull(err) || round >= MAX_FULL_ROUNDS) throw host.failed(err);
      }
      if (kept.length > 0) {
        if (entries.length > 0 && this.statesLeftOut && !roomForStatesTried) {
          roomForStatesTried = true;
          // routine records only: the space others keep (the quality journal) is never given up for states
          if (this.makeRoom(entries, stateBytes(kept), false)) continue;
        }
        kept = [];
        continue;
      }
      if (this.makeRoom(entries, stateBytes(states), true)) continue;
      // nothing routine is left to evict: keep the critical records of this commit, shed the rest
      const critical = batch.filter((d) => recordClassOf[d.kind] === 'critical');
      this.dropUnstored(batch.filter((d) => recordClassOf[d.kind] !== 'critical'));
      if (critical.length === batch.length) {
        this.dropUnstored(critical);
        throw new PdmError('OUTBOX_FAILED', 'outbox is full of critical records', {
          context: { file: host.file, reason: 'disk-full', records: critical.length },
        });
      }
      batch = critical;
      entries = host.encode(batch, committedAt);
    }
    const statesStored = kept.length === states.length;
    if (states.length > 0) this.statesLeftOut = !statesStored;
    if (statesStored) host.states().stored(states, committedAt);
    else this.stateNotStored(states, committedAt);
    return { entries, statesStored };
  }

  /**
   * SQLITE_FULL on a commit of records: gives up the space others keep here (`giveUpSpace`), else evicts routine records by
   * policy; false when none is left. A checkpoint first moves the WAL into the database and lets the
   * next write reuse the WAL from its start (RESTART keeps the file's space, so on a full disk the
   * eviction itself does not need more). `stateBytes`: states to make room for beside the records;
   * `giveUp` false: evict routine records only.
   */
  private makeRoom(entries: readonly OutboxEntry[], stateBytes: number, giveUp: boolean): boolean {
    const host = this.host;
    const db = host.db();
    try {
      db.pragma('wal_checkpoint(RESTART)');
    } catch (err) {
      host.log.debug({ err }, 'checkpoint on a full disk failed');
    }
    if (giveUp && host.giveUpSpace?.() === true) return true;
    const bytes = entries.reduce((n, e) => n + e.payload.byteLength, stateBytes);
    const need = Math.max(MIN_ROOM_BYTES, 2 * bytes);
    const target = Math.max(0, host.tally().bytes - need);
    const before = host.tally().depth;
    try {
      host.write(false, (t) => {
        for (const v of planBytesEviction(host.view(t), t.bytes, target, 'disk-full')) host.evict(t, v);
      });
    } catch (err) {
      if (!isFull(err)) throw host.failed(err);
      host.log.error({ err }, 'no room even to evict');
      return false;
    }
    return host.tally().depth < before;
  }

  /** States dropped from a commit for want of room: told to the watch; the first warns, the rest are at debug level. */
  private stateNotStored(states: readonly StateWrite[], at: number): void {
    const watch = this.host.states();
    watch.notStored(states, at);
    const level = this.host.warned.has('state-not-stored') ? 'debug' : 'warn';
    this.host.warned.add('state-not-stored');
    const { statesNotStored, stateNotStoredSince } = watch.figures();
    // an ISO time, as the status carries it (stateNotStoredSince), to compare the two by eye
    const since = stateNotStoredSince === undefined ? undefined : new Date(stateNotStoredSince).toISOString();
    this.host.log[level]({ keys: states.map((st) => st.key), statesNotStored, since }, 'state not written: outbox full');
  }

  /** Counts records that never got stored (a full disk); best effort on disk, always in this process. */
  private dropUnstored(drafts: readonly RecordDraft[]): void {
    if (drafts.length === 0) return;
    const host = this.host;
    const sql = host.sql();
    const counts = new Map<string, number>();
    for (const d of drafts) {
      const reason = dropReason('disk-full', recordClassOf[d.kind]);
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
    host.log.error({ counts: Object.fromEntries(counts) }, 'records not stored: outbox full');
    try {
      host.write(false, (t) => {
        for (const [reason, n] of counts) {
          sql.addDropped.run(reason, n);
          t.drop(reason, n);
        }
      });
    } catch {
      for (const [reason, n] of counts) host.tally().drop(reason, n);
    }
  }
}

/**
 * The device's outbox: one SQLite file in WAL mode. A commit is one transaction that inserts the
 * records, advances `last_seq` in `meta` and applies the caps (evictions counted in `dropped`), so seqs
 * and counters survive restarts. Durability per record class (README "Durability"): a commit holding a
 * critical record runs at `criticalSynchronous` (FULL by default: the WAL is fsynced before the commit
 * returns), routine ones at `synchronous` (NORMAL by default: survives a process crash or SIGKILL; an OS
 * crash or power cut may lose the last ones).
 *
 * A full disk or the `maxFileBytes` cap (SQLITE_FULL) does not crash the agent (sqlite-full.ts): routine
 * records are evicted by the same policy and the commit retried; when only critical records are left, the
 * routine part of the commit is shed, and only a commit of critical records that still does not fit fails.
 * States (snapshots beside the records) rank below every record: they are the first left out; the next
 * commit of records evicts routine records for them too. Before evicting for records, the space others
 * keep in the file (the quality journal) is given up.
 * A corrupt database at start is set aside (sqlite-open.ts) and a fresh one started.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { Listeners } from '../listeners.js';
import { Tally, planAgeEviction, planBytesEviction, type EvictionView, type Victims } from './eviction.js';
import {
  MAX_QUARANTINE_NOTES, NO_CAPS, dropReason, encodeDraft, recordClassOf, recordClasses, type DeliveryWatch, type EvictedRange,
  type Outbox, type OutboxCaps, type OutboxEntry, type OutboxStats, type PendingQuery, type QuarantineNote, type RecordDraft, type StateWrite, statesOf, type Committed,
} from './outbox.js';
import { SeqReservation } from './seq-reservation.js';
import { applyDiskPlan, isCorruption, openDatabase, planDisk, quarantine, type DiskPlan, type Quarantined } from './sqlite-open.js';
import { claim, load, migrate, prepare, type Statements } from './sqlite-schema.js';
import { FullDiskPolicy } from './sqlite-full.js';
import { StateWatch } from './state-watch.js';

type Synchronous = 'NORMAL' | 'FULL';

export interface SqliteOutboxDeps {
  readonly file: string;
  readonly deviceId: string;
  /** synchronous level of commits of routine records only (metrics, predictions, samples). */
  readonly synchronous: Synchronous;
  /** synchronous level of commits holding a critical record (default FULL). */
  readonly criticalSynchronous?: Synchronous;
  readonly caps?: OutboxCaps;
  /** Hard cap on the database file (SQLite max_page_count): past it a commit gets SQLITE_FULL and evicts. */
  readonly maxFileBytes?: number;
  /**
   * At SQLITE_FULL, before any record is evicted: gives up the space something else keeps in this file
   * (the quality journal, journal.ts), which only saves work after a restart, where a record is data not
   * sent yet. True when it freed some (the commit is then retried).
   */
  readonly giveUpSpace?: () => boolean;
  readonly clock: Clock;
  readonly log: Logger;
}

export class SqliteOutbox implements Outbox {
  private db: Database.Database | undefined;
  private sql: Statements | undefined;
  // cached: this process is the only writer, and the cache is replaced only after a transaction commits
  private tally = new Tally();
  private notes: QuarantineNote[] = [];
  private disk: DiskPlan | undefined;
  private readonly reservation: SeqReservation;
  private readonly listeners: Listeners<[readonly OutboxEntry[]]>;
  private readonly warned = new Set<string>();
  private delivery: DeliveryWatch | undefined;
  /** Evictions of the transaction running now, told to the watch once it has committed. */
  private evictions: EvictedRange[] = [];
  private readonly full: FullDiskPolicy;
  /** Replaced at start by one that knows when the stored states were last all current. */
  private states = new StateWatch(undefined);

  constructor(private readonly deps: SqliteOutboxDeps) {
    this.listeners = new Listeners((err) => deps.log.error({ err }, 'commit listener failed'));
    this.reservation = new SeqReservation(`${deps.file}.seq`, deps.deviceId);
    this.full = new FullDiskPolicy({
      file: deps.file, log: deps.log, giveUpSpace: deps.giveUpSpace, warned: this.warned,
      db: () => this.open().db, sql: () => this.open().sql, tally: () => this.tally, states: () => this.states,
      write: (critical, fn) => {
        this.tally = this.write(critical, fn);
      },
      evict: (t, v) => this.evict(t, v), view: (t) => this.view(t),
      encode: (drafts, committedAt) => this.encode(drafts, committedAt), insert: (t, entries) => this.insert(t, entries),
      reserve: (seq) => this.reserve(seq), failed: (cause) => this.failed(cause),
    });
  }

  private get caps(): OutboxCaps {
    return this.deps.caps ?? NO_CAPS;
  }

  start(): void {
    const { file, log } = this.deps;
    mkdirSync(dirname(file), { recursive: true });
    this.reservation.load();
    let opened: { db: Database.Database; created: boolean };
    let quarantined: Quarantined | undefined;
    try {
      opened = this.openOnce();
    } catch (err) {
      if (!isCorruption(err)) throw err;
      quarantined = quarantine(file, this.deps.clock.now(), err);
      log.error({ file, movedTo: quarantined.movedTo, reason: quarantined.reason, salvage: quarantined.salvage }, 'outbox quarantined');
      opened = this.openOnce();
    }
    this.db = opened.db;
    this.sql = prepare(opened.db);
    const loaded = load(opened.db);
    ({ tally: this.tally, notes: this.notes } = loaded);
    this.states = new StateWatch(loaded.statesStoredAt);
    if (opened.created) this.continueSeqs(quarantined);
    this.reserve(this.tally.lastSeq);
    this.tally = this.write(false, (t) => this.applyCaps(t));
    const { lastSeq, depth } = this.tally;
    log.info({ file, synchronous: this.deps.synchronous, lastSeq, depth, fileCap: this.disk?.fileCap, walBytes: this.disk?.walBytes }, 'outbox opened');
  }

  stop(): void {
    this.db?.close();
    this.db = undefined;
    this.sql = undefined;
  }

  commit(drafts: readonly RecordDraft[], state?: StateWrite | readonly StateWrite[]): OutboxEntry[] {
    return this.commitWithStates(drafts, statesOf(state)).entries;
  }

  /** Records and states in one transaction; on a full disk by the policy of sqlite-full.ts. */
  commitWithStates(drafts: readonly RecordDraft[], states: readonly StateWrite[]): Committed {
    this.open();
    if (drafts.length === 0 && states.length === 0) return { entries: [], statesStored: true };
    const committed = this.full.commit(drafts, states, this.deps.clock.now());
    if (committed.entries.length > 0) this.listeners.emit(committed.entries);
    return committed;
  }

  state(key: string): Buffer | undefined {
    return this.open().sql.getState.get(key)?.value;
  }

  pending(query: PendingQuery): OutboxEntry[] {
    const { sql } = this.open();
    const through = query.throughSeq ?? Number.MAX_SAFE_INTEGER;
    const classes = query.classes ?? recordClasses;
    let rows: OutboxEntry[];
    if (classes.length >= recordClasses.length) rows = sql.pendingAll.all(query.afterSeq, through, query.limit);
    else if (classes.length === 1) rows = sql.pendingClass.all(classes[0]!, query.afterSeq, through, query.limit);
    else rows = sql.pendingClasses.all(query.afterSeq, through, `,${classes.join(',')},`, query.limit);
    return rows;
  }

  ack(seqs: readonly number[]): void {
    const { sql } = this.open();
    try {
      this.tally = this.write(false, (t) => {
        const rows = sql.remove.all(JSON.stringify(seqs));
        if (rows.length === 0) return;
        for (const row of rows) t.removed(row.class, 1, row.bytes);
        t.delivered += rows.length;
        sql.setMeta.run(t.delivered, 'delivered');
      });
    } catch (err) {
      throw this.failed(err);
    }
  }

  stats(): OutboxStats {
    const t = this.tally;
    const oldest = this.sql?.oldestPending.get();
    return {
      lastSeq: t.lastSeq,
      depth: t.depth,
      bytes: t.bytes,
      byClass: t.classStats(),
      oldestPendingAt: oldest?.committedAt,
      delivered: t.delivered,
      dropped: { ...t.dropped },
      quarantined: [...this.notes],
      ...this.states.figures(),
    };
  }

  onCommit(listener: (entries: readonly OutboxEntry[]) => void): () => void {
    return this.listeners.add(listener);
  }

  watch(watch: DeliveryWatch): () => void {
    this.delivery = watch;
    return () => {
      if (this.delivery === watch) this.delivery = undefined;
    };
  }

  private open(): { db: Database.Database; sql: Statements } {
    if (this.db === undefined || this.sql === undefined) throw new PdmError('OUTBOX_FAILED', 'outbox is not open');
    return { db: this.db, sql: this.sql };
  }

  private openOnce(): { db: Database.Database; created: boolean } {
    const { file, deviceId, synchronous, maxFileBytes } = this.deps;
    let db: Database.Database | undefined;
    try {
      db = openDatabase(file, [`synchronous = ${synchronous}`]);
      this.disk = planDisk(file, maxFileBytes);
      applyDiskPlan(db, this.disk);
      const created = migrate(db);
      claim(db, deviceId);
      return { db, created };
    } catch (cause) {
      db?.close();
      if (isCorruption(cause) || cause instanceof PdmError) throw cause;
      throw new PdmError('OUTBOX_FAILED', 'cannot open the outbox database', { cause, context: { file } });
    }
  }

  /**
   * A new database goes on above every seq that may have been used: the reservation beside it, and
   * the last seq still readable from a quarantined one. The loss is counted and the note kept.
   */
  private continueSeqs(quarantined: Quarantined | undefined): void {
    const floor = Math.max(this.reservation.reservedThrough, quarantined?.salvage.lastSeq ?? 0);
    const note: QuarantineNote | undefined = quarantined === undefined
      ? undefined
      : { at: this.deps.clock.now(), movedTo: quarantined.movedTo, reason: quarantined.reason.slice(0, 256) };
    const notes = note === undefined ? this.notes : [...this.notes, note].slice(-MAX_QUARANTINE_NOTES);
    const { sql } = this.open();
    this.tally = this.write(false, (t) => {
      if (floor > t.lastSeq) {
        t.lastSeq = floor;
        sql.setMeta.run(floor, 'last_seq');
      }
      const lost = quarantined?.salvage.pending ?? 0;
      if (lost > 0) {
        t.drop(dropReason('corrupt-db'), lost);
        sql.addDropped.run(dropReason('corrupt-db'), lost);
      }
      sql.setMeta.run(JSON.stringify(notes), 'quarantined');
    });
    this.notes = notes;
    if (floor > 0) this.deps.log.warn({ lastSeq: floor }, 'outbox seqs continue after the previous database');
  }

  private encode(drafts: readonly RecordDraft[], committedAt: number): OutboxEntry[] {
    const first = this.tally.lastSeq + 1;
    return drafts.map((draft, i): OutboxEntry => ({
      seq: first + i,
      kind: draft.kind,
      recordClass: recordClassOf[draft.kind],
      payload: encodeDraft(this.deps.deviceId, first + i, draft),
      committedAt,
    }));
  }

  private insert(t: Tally, entries: readonly OutboxEntry[]): void {
    const { sql } = this.open();
    for (const e of entries) {
      sql.insert.run(e.seq, e.kind, e.recordClass, e.committedAt, e.payload);
      t.added(e.recordClass, e.payload.byteLength);
    }
    t.lastSeq = entries[entries.length - 1]!.seq;
    sql.setMeta.run(t.lastSeq, 'last_seq');
    this.applyCaps(t);
  }

  /** Runs `fn` in one transaction on a copy of the counters; returns the copy once committed. */
  private write(critical: boolean, fn: (t: Tally) => void): Tally {
    const { db } = this.open();
    const t = this.tally.clone();
    const level = critical ? (this.deps.criticalSynchronous ?? 'FULL') : this.deps.synchronous;
    const switched = level !== this.deps.synchronous;
    if (switched) db.pragma(`synchronous = ${level}`);
    this.evictions = [];
    try {
      db.transaction(() => fn(t))();
    } catch (err) {
      this.evictions = [];
      throw err;
    } finally {
      if (switched) db.pragma(`synchronous = ${this.deps.synchronous}`);
    }
    const evicted = this.evictions;
    this.evictions = [];
    if (evicted.length > 0) this.delivery?.evicted(evicted);
    return t;
  }

  private applyCaps(t: Tally): void {
    const view = this.view(t);
    for (const v of planAgeEviction(view, this.caps, this.deps.clock.now())) this.evict(t, v);
    for (const v of planBytesEviction(view, t.bytes, this.caps.maxBytes, 'cap-bytes')) this.evict(t, v);
  }

  private evict(t: Tally, v: Victims): void {
    const { sql } = this.open();
    sql.evictRange.run(v.recordClass, v.throughSeq, JSON.stringify(v.except));
    sql.addDropped.run(v.reason, v.count);
    t.evicted(v);
    this.evictions.push(v);
    // the first eviction of each reason is worth a warning; the rest are in the counters
    const level = this.warned.has(v.reason) ? 'debug' : 'warn';
    this.warned.add(v.reason);
    this.deps.log[level]({ reason: v.reason, count: v.count, bytes: v.bytes, throughSeq: v.throughSeq }, 'records evicted');
  }




  /** Keeps the seq reservation ahead; a failure (e.g. the disk is full) must not cost the commit. */
  private reserve(seq: number): void {
    try {
      this.reservation.cover(seq);
    } catch (err) {
      this.deps.log.warn({ err }, 'seq reservation not written');
    }
  }

  /** The stored entries as the planner sees them, within the transaction that `t` counts. */
  private view(t: Tally): EvictionView {
    const { sql } = this.open();
    return {
      oldest: (recordClass, afterSeq, limit) => sql.oldest.all(recordClass, afterSeq, limit),
      depth: (c) => t.byClass[c].depth,
      inFlight: (seq) => this.delivery?.inFlight(seq) ?? false,
    };
  }

  private failed(cause: unknown): PdmError {
    if (cause instanceof PdmError) return cause;
    const code = (cause as { code?: unknown } | null)?.code;
    return new PdmError('OUTBOX_FAILED', 'outbox write failed', { cause, context: { file: this.deps.file, code } });
  }
}

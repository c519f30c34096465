/**
 * In-memory outbox for unit tests of the parts around it. It passes the same suite as the SQLite one,
 * caps and eviction included; "persistence" is the store object, which a test may hand to a new
 * instance to simulate a restart.
 */
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { Listeners } from '../listeners.js';
import { StateWatch } from './state-watch.js';
import { Tally, planAgeEviction, planBytesEviction, type EvictionView, type StoredEntry, type Victims } from './eviction.js';
import {
  NO_CAPS, encodeDraft, type Committed, inRange, recordClassOf, type DeliveryWatch, type Outbox, type OutboxCaps, type OutboxEntry, type OutboxStats,
  type PendingQuery, type RecordDraft, type RoutineClass, type StateWrite, statesOf,
} from './outbox.js';

export class MemoryOutboxStore {
  deviceId: string | undefined;
  tally = new Tally();
  /** Insertion order is seq order: seqs only grow. */
  readonly entries = new Map<number, OutboxEntry>();
  readonly state = new Map<string, Buffer>();
  /** Whether the states are current, by the SQLite outbox's rule (memory never leaves one out); renewed at each start, keeping its stored time, as a restart does. */
  states = new StateWatch(undefined);
}

export interface MemoryOutboxDeps {
  readonly deviceId: string;
  readonly clock: Clock;
  readonly caps?: OutboxCaps;
  readonly store?: MemoryOutboxStore;
}

export class MemoryOutbox implements Outbox {
  readonly store: MemoryOutboxStore;
  // a test double: a throwing listener is a bug in the test, so let it surface in the commit call
  private readonly listeners = new Listeners<[readonly OutboxEntry[]]>((err) => {
    throw err;
  });
  private open = false;
  private delivery: DeliveryWatch | undefined;

  constructor(private readonly deps: MemoryOutboxDeps) {
    this.store = deps.store ?? new MemoryOutboxStore();
  }

  start(): void {
    const { store } = this;
    if (store.deviceId !== undefined && store.deviceId !== this.deps.deviceId) {
      throw new PdmError('OUTBOX_FAILED', 'outbox belongs to another device', {
        context: { stored: store.deviceId, configured: this.deps.deviceId },
      });
    }
    store.deviceId = this.deps.deviceId;
    // what survives a restart of the SQLite outbox: the stored time, not this process's stretches
    store.states = new StateWatch(store.states.figures().stateStoredAt);
    this.open = true;
    this.applyCaps(this.store.tally);
  }

  stop(): void {
    this.open = false;
  }

  commit(drafts: readonly RecordDraft[], state?: StateWrite | readonly StateWrite[]): OutboxEntry[] {
    return this.commitWithStates(drafts, statesOf(state)).entries;
  }

  /** Memory never fills: the states are always stored with the records. */
  commitWithStates(drafts: readonly RecordDraft[], states: readonly StateWrite[]): Committed {
    this.assertOpen();
    const committedAt = this.deps.clock.now();
    const { tally } = this.store;
    const entries = drafts.map((draft, i): OutboxEntry => {
      const seq = tally.lastSeq + 1 + i;
      const payload = encodeDraft(this.deps.deviceId, seq, draft);
      return { seq, kind: draft.kind, recordClass: recordClassOf[draft.kind], payload, committedAt };
    });
    // encoded (and refused) above before anything is kept: all or none, as one transaction
    for (const st of states) this.store.state.set(st.key, Buffer.from(st.value));
    this.store.states.stored(states, committedAt);
    if (entries.length === 0) return { entries, statesStored: true };
    for (const entry of entries) {
      this.store.entries.set(entry.seq, entry);
      tally.added(entry.recordClass, entry.payload.byteLength);
    }
    tally.lastSeq += entries.length;
    this.applyCaps(tally);
    this.listeners.emit(entries);
    return { entries, statesStored: true };
  }

  state(key: string): Buffer | undefined {
    this.assertOpen();
    return this.store.state.get(key);
  }

  pending(query: PendingQuery): OutboxEntry[] {
    this.assertOpen();
    const out: OutboxEntry[] = [];
    const through = query.throughSeq ?? Number.POSITIVE_INFINITY;
    for (const entry of this.store.entries.values()) {
      if (out.length >= query.limit || entry.seq > through) break;
      if (entry.seq <= query.afterSeq) continue;
      if (query.classes === undefined || query.classes.includes(entry.recordClass)) out.push(entry);
    }
    return out;
  }

  ack(seqs: readonly number[]): void {
    this.assertOpen();
    const { tally, entries } = this.store;
    for (const seq of seqs) {
      const entry = entries.get(seq);
      if (entry === undefined) continue;
      entries.delete(seq);
      tally.removed(entry.recordClass, 1, entry.payload.byteLength);
      tally.delivered++;
    }
  }

  stats(): OutboxStats {
    const { tally, entries } = this.store;
    const oldest = entries.values().next();
    return {
      lastSeq: tally.lastSeq,
      depth: tally.depth,
      bytes: tally.bytes,
      byClass: tally.classStats(),
      oldestPendingAt: oldest.done === true ? undefined : oldest.value.committedAt,
      delivered: tally.delivered,
      dropped: { ...tally.dropped },
      quarantined: [],
      ...this.store.states.figures(),
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

  private applyCaps(tally: Tally): void {
    const caps = this.deps.caps ?? NO_CAPS;
    const view = this.view(tally);
    const evicted: Victims[] = [];
    for (const v of planAgeEviction(view, caps, this.deps.clock.now())) evicted.push(this.evict(tally, v));
    for (const v of planBytesEviction(view, tally.bytes, caps.maxBytes, 'cap-bytes')) evicted.push(this.evict(tally, v));
    if (evicted.length > 0) this.delivery?.evicted(evicted);
  }

  private evict(tally: Tally, victims: Victims): Victims {
    for (const [seq, entry] of this.store.entries) {
      if (seq > victims.throughSeq) break;
      if (inRange(victims, entry)) this.store.entries.delete(seq);
    }
    tally.evicted(victims);
    return victims;
  }

  private view(tally: Tally): EvictionView {
    const entries = this.store.entries;
    return {
      depth: (c) => tally.byClass[c].depth,
      inFlight: (seq) => this.delivery?.inFlight(seq) ?? false,
      oldest(recordClass: RoutineClass, afterSeq: number, limit: number): StoredEntry[] {
        const out: StoredEntry[] = [];
        for (const e of entries.values()) {
          if (out.length >= limit) break;
          if (e.seq > afterSeq && e.recordClass === recordClass) out.push({ seq: e.seq, bytes: e.payload.byteLength, committedAt: e.committedAt });
        }
        return out;
      },
    };
  }

  private assertOpen(): void {
    if (!this.open) throw new PdmError('OUTBOX_FAILED', 'outbox is not open');
  }
}

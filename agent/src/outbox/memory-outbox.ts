/**
 * In-memory outbox for unit tests of the parts around it. It passes the same suite as the SQLite one;
 * "persistence" is the store object, which a test may hand to a new instance to simulate a restart.
 */
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { Listeners } from '../listeners.js';
import {
  encodeDraft, recordClassOf, type Outbox, type OutboxEntry, type OutboxStats, type PendingQuery,
  type RecordDraft,
} from './outbox.js';

export class MemoryOutboxStore {
  deviceId: string | undefined;
  lastSeq = 0;
  delivered = 0;
  readonly dropped: Record<string, number> = {};
  /** Insertion order is seq order: seqs only grow. */
  readonly entries = new Map<number, OutboxEntry>();
  bytes = 0;
}

export interface MemoryOutboxDeps {
  readonly deviceId: string;
  readonly clock: Clock;
  readonly store?: MemoryOutboxStore;
}

export class MemoryOutbox implements Outbox {
  readonly store: MemoryOutboxStore;
  // a test double: a throwing listener is a bug in the test, so let it surface in the commit call
  private readonly listeners = new Listeners<[readonly OutboxEntry[]]>((err) => {
    throw err;
  });
  private open = false;

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
    this.open = true;
  }

  stop(): void {
    this.open = false;
  }

  commit(drafts: readonly RecordDraft[]): OutboxEntry[] {
    this.assertOpen();
    const committedAt = this.deps.clock.now();
    const entries = drafts.map((draft, i): OutboxEntry => {
      const seq = this.store.lastSeq + 1 + i;
      const payload = encodeDraft(this.deps.deviceId, seq, draft);
      return { seq, kind: draft.kind, recordClass: recordClassOf[draft.kind], payload, committedAt };
    });
    for (const entry of entries) {
      this.store.entries.set(entry.seq, entry);
      this.store.bytes += entry.payload.byteLength;
    }
    this.store.lastSeq += entries.length;
    if (entries.length > 0) this.listeners.emit(entries);
    return entries;
  }

  pending(query: PendingQuery): OutboxEntry[] {
    this.assertOpen();
    const out: OutboxEntry[] = [];
    for (const entry of this.store.entries.values()) {
      if (out.length >= query.limit) break;
      if (entry.seq > query.afterSeq) out.push(entry);
    }
    return out;
  }

  ack(seqs: readonly number[]): void {
    this.assertOpen();
    for (const seq of seqs) {
      const entry = this.store.entries.get(seq);
      if (entry === undefined) continue;
      this.store.entries.delete(seq);
      this.store.bytes -= entry.payload.byteLength;
      this.store.delivered++;
    }
  }

  stats(): OutboxStats {
    const { store } = this;
    return {
      lastSeq: store.lastSeq,
      depth: store.entries.size,
      bytes: store.bytes,
      delivered: store.delivered,
      dropped: { ...store.dropped },
    };
  }

  onCommit(listener: (entries: readonly OutboxEntry[]) => void): () => void {
    return this.listeners.add(listener);
  }

  private assertOpen(): void {
    if (!this.open) throw new PdmError('OUTBOX_FAILED', 'outbox is not open');
  }
}

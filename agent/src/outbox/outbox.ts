/**
 * The outbox is the agent's system of record (../shared/RELIABILITY.md): every upstream record is
 * committed here, with its per-device seq, before it is published, and deleted only after the broker's
 * PUBACK. Two implementations (SQLite for the device, memory for unit tests) pass one shared suite.
 *
 * Issue 4 deepens buffering (priorities, caps by bytes and age, eviction, drop counters). The interface
 * carries what that needs already: each entry has a record class, stats report drops by reason, and
 * `pending` takes a query object that can grow a class filter without breaking callers.
 */
import {
  PdmError, describeIssues, recordSchemas, topicSpecs, type RecordKind, type RecordOf,
} from '@pdm/protocol';

/** Priority of a record (issue 4): `critical` is never evicted; `samples` (raw readings) go first. */
export const recordClasses = ['critical', 'metrics', 'predictions', 'samples'] as const;
export type RecordClass = (typeof recordClasses)[number];

export const recordClassOf: Readonly<Record<RecordKind, RecordClass>> = {
  alerts: 'critical',
  events: 'critical',
  deployment: 'critical',
  metrics: 'metrics',
  comparisons: 'metrics',
  quality: 'metrics',
  drift: 'metrics',
  predictions: 'predictions',
};

/** A record as its producer builds it: the outbox adds deviceId and seq at commit. */
export type RecordDraft = {
  [K in RecordKind]: { readonly kind: K; readonly record: Omit<RecordOf<K>, 'seq' | 'deviceId'> };
}[RecordKind];

export interface OutboxEntry {
  readonly seq: number;
  readonly kind: RecordKind;
  readonly recordClass: RecordClass;
  /** The record as published: UTF-8 JSON, validated against its topic's schema at commit. */
  readonly payload: Buffer;
  /** Wall-clock ms at commit (for age caps and drain metrics). */
  readonly committedAt: number;
}

export interface PendingQuery {
  /** Only entries with a larger seq. */
  readonly afterSeq: number;
  readonly limit: number;
}

export interface OutboxStats {
  /** Highest seq ever committed; 0 before the first record. Survives restarts. */
  readonly lastSeq: number;
  /** Committed and not yet acknowledged. */
  readonly depth: number;
  /** Payload bytes of those. */
  readonly bytes: number;
  /** Records acknowledged by the broker, ever. */
  readonly delivered: number;
  /** Records evicted without delivery, by reason, ever (issue 4 adds the policies that drop). */
  readonly dropped: Readonly<Record<string, number>>;
}

export interface Outbox {
  /** Opens the store; fails with OUTBOX_FAILED when it belongs to another device or cannot be opened. */
  start(): void;
  stop(): void;
  /**
   * Validates every draft, gives them the next consecutive seqs and commits them in one transaction:
   * all or none. Throws PAYLOAD_INVALID / PAYLOAD_TOO_LARGE before writing anything.
   */
  commit(drafts: readonly RecordDraft[]): OutboxEntry[];
  /** Unacknowledged entries in seq order. */
  pending(query: PendingQuery): OutboxEntry[];
  /** Deletes acknowledged entries. Unknown seqs are ignored: an ack may repeat after a resend. */
  ack(seqs: readonly number[]): void;
  stats(): OutboxStats;
  /** Called after each commit; returns an unsubscribe function. */
  onCommit(listener: (entries: readonly OutboxEntry[]) => void): () => void;
}

/** Builds the full record for a draft, validates it against its schema and encodes it. */
export function encodeDraft(deviceId: string, seq: number, draft: RecordDraft): Buffer {
  const record = { ...draft.record, deviceId, seq };
  const parsed = recordSchemas[draft.kind].safeParse(record);
  if (!parsed.success) {
    throw new PdmError('PAYLOAD_INVALID', `${draft.kind} record: ${describeIssues(parsed.error)}`, {
      context: { kind: draft.kind, seq },
    });
  }
  const payload = Buffer.from(JSON.stringify(parsed.data), 'utf8');
  const limit = topicSpecs[draft.kind].maxBytes;
  if (payload.byteLength > limit) {
    throw new PdmError('PAYLOAD_TOO_LARGE', `${draft.kind} record of ${payload.byteLength} bytes exceeds ${limit}`, {
      context: { kind: draft.kind, bytes: payload.byteLength, limit },
    });
  }
  return payload;
}

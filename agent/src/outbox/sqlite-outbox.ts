/**
 * The device's outbox: one SQLite file in WAL mode. A commit is one transaction that inserts the
 * records and advances `last_seq` in `meta`, so seqs survive restarts even when every record has been
 * delivered and deleted. `synchronous=NORMAL` (default) keeps every committed transaction across a
 * process crash or SIGKILL; only an OS crash or power cut can lose the last ones, which `FULL` prevents
 * at the cost of an fsync per commit (see README "Durability").
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { PdmError, type RecordKind } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { Listeners } from '../listeners.js';
import {
  encodeDraft, recordClassOf, type Outbox, type OutboxEntry, type OutboxStats, type PendingQuery,
  type RecordClass, type RecordDraft,
} from './outbox.js';

export interface SqliteOutboxDeps {
  readonly file: string;
  readonly deviceId: string;
  readonly synchronous: 'NORMAL' | 'FULL';
  readonly clock: Clock;
  readonly log: Logger;
}

const SCHEMA_VERSION = 1;

// STRICT tables: a wrong type is an error, not a silent conversion. `seq` is the rowid, so reading in
// seq order walks the table's own b-tree.
const MIGRATION_1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
CREATE TABLE records (
  seq INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  class TEXT NOT NULL,
  committed_at INTEGER NOT NULL,
  payload BLOB NOT NULL
) STRICT;
CREATE TABLE dropped (reason TEXT PRIMARY KEY, count INTEGER NOT NULL) STRICT;
INSERT INTO meta (key, value) VALUES ('last_seq', 0), ('delivered', 0);
`;

interface Row {
  seq: number;
  kind: RecordKind;
  class: RecordClass;
  committed_at: number;
  payload: Buffer;
}

interface Statements {
  insert: Database.Statement<[number, string, string, number, Buffer]>;
  setMeta: Database.Statement<[number | string, string]>;
  pending: Database.Statement<[number, number], Row>;
  remove: Database.Statement<[number], { bytes: number }>;
}

export class SqliteOutbox implements Outbox {
  private db: Database.Database | undefined;
  private sql: Statements | undefined;
  // cached: this process is the only writer, and the cache changes only after a transaction commits
  private lastSeq = 0;
  private delivered = 0;
  private depth = 0;
  private bytes = 0;

  private readonly listeners: Listeners<[readonly OutboxEntry[]]>;

  constructor(private readonly deps: SqliteOutboxDeps) {
    this.listeners = new Listeners((err) => deps.log.error({ err }, 'commit listener failed'));
  }

  start(): void {
    const { file, deviceId, synchronous, log } = this.deps;
    try {
      mkdirSync(dirname(file), { recursive: true });
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      this.db = db;
      this.migrate(db);
      this.claim(db, deviceId);
      this.sql = this.prepare(db);
      this.loadCounters(db);
    } catch (cause) {
      this.db?.close();
      this.db = undefined;
      if (cause instanceof PdmError) throw cause;
      throw new PdmError('OUTBOX_FAILED', 'cannot open the outbox database', { cause, context: { file } });
    }
    log.info({ file, synchronous, lastSeq: this.lastSeq, depth: this.depth }, 'outbox opened');
  }

  stop(): void {
    this.db?.close();
    this.db = undefined;
    this.sql = undefined;
  }

  commit(drafts: readonly RecordDraft[]): OutboxEntry[] {
    const { db, sql } = this.open();
    const committedAt = this.deps.clock.now();
    const entries = drafts.map((draft, i): OutboxEntry => {
      const seq = this.lastSeq + 1 + i;
      return { seq, kind: draft.kind, recordClass: recordClassOf[draft.kind], payload: encodeDraft(this.deps.deviceId, seq, draft), committedAt };
    });
    if (entries.length === 0) return entries;
    const last = entries[entries.length - 1]!.seq;
    this.write(db, () => {
      for (const e of entries) sql.insert.run(e.seq, e.kind, e.recordClass, e.committedAt, e.payload);
      sql.setMeta.run(last, 'last_seq');
    });
    this.lastSeq = last;
    this.depth += entries.length;
    for (const e of entries) this.bytes += e.payload.byteLength;
    this.listeners.emit(entries);
    return entries;
  }

  pending(query: PendingQuery): OutboxEntry[] {
    const { sql } = this.open();
    return sql.pending.all(query.afterSeq, query.limit).map((r) => ({
      seq: r.seq, kind: r.kind, recordClass: r.class, payload: r.payload, committedAt: r.committed_at,
    }));
  }

  ack(seqs: readonly number[]): void {
    const { db, sql } = this.open();
    let removed = 0;
    let removedBytes = 0;
    this.write(db, () => {
      for (const seq of seqs) {
        const row = sql.remove.get(seq);
        if (row === undefined) continue;
        removed++;
        removedBytes += row.bytes;
      }
      if (removed > 0) sql.setMeta.run(this.delivered + removed, 'delivered');
    });
    this.delivered += removed;
    this.depth -= removed;
    this.bytes -= removedBytes;
  }

  stats(): OutboxStats {
    const dropped: Record<string, number> = {};
    if (this.db !== undefined) {
      for (const r of this.db.prepare('SELECT reason, count FROM dropped').all() as { reason: string; count: number }[]) {
        dropped[r.reason] = r.count;
      }
    }
    return { lastSeq: this.lastSeq, depth: this.depth, bytes: this.bytes, delivered: this.delivered, dropped };
  }

  onCommit(listener: (entries: readonly OutboxEntry[]) => void): () => void {
    return this.listeners.add(listener);
  }

  private open(): { db: Database.Database; sql: Statements } {
    if (this.db === undefined || this.sql === undefined) throw new PdmError('OUTBOX_FAILED', 'outbox is not open');
    return { db: this.db, sql: this.sql };
  }

  private write(db: Database.Database, fn: () => void): void {
    try {
      db.transaction(fn)();
    } catch (cause) {
      throw new PdmError('OUTBOX_FAILED', 'outbox write failed', { cause, context: { file: this.deps.file } });
    }
  }

  private migrate(db: Database.Database): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new PdmError('OUTBOX_FAILED', 'outbox database is from a newer agent', { context: { version, supported: SCHEMA_VERSION } });
    }
    if (version < 1) {
      db.transaction(() => {
        db.exec(MIGRATION_1);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    }
  }

  /** Records embed the deviceId: a file of another device must never be published under this one. */
  private claim(db: Database.Database, deviceId: string): void {
    const row = db.prepare("SELECT value FROM meta WHERE key = 'device_id'").get() as { value: string } | undefined;
    if (row === undefined) {
      db.prepare("INSERT INTO meta (key, value) VALUES ('device_id', ?)").run(deviceId);
    } else if (row.value !== deviceId) {
      throw new PdmError('OUTBOX_FAILED', 'outbox belongs to another device', { context: { stored: row.value, configured: deviceId } });
    }
  }

  private prepare(db: Database.Database): Statements {
    return {
      insert: db.prepare('INSERT INTO records (seq, kind, class, committed_at, payload) VALUES (?, ?, ?, ?, ?)'),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
      pending: db.prepare('SELECT seq, kind, class, committed_at, payload FROM records WHERE seq > ? ORDER BY seq LIMIT ?'),
      remove: db.prepare('DELETE FROM records WHERE seq = ? RETURNING length(payload) AS bytes'),
    };
  }

  private loadCounters(db: Database.Database): void {
    const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: unknown }[]).map((r) => [r.key, r.value]));
    this.lastSeq = Number(meta.get('last_seq'));
    this.delivered = Number(meta.get('delivered'));
    const totals = db.prepare('SELECT count(*) AS depth, coalesce(sum(length(payload)), 0) AS bytes FROM records').get() as {
      depth: number;
      bytes: number;
    };
    this.depth = totals.depth;
    this.bytes = totals.bytes;
  }
}

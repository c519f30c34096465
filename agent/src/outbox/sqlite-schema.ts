/** The outbox database's schema, its migrations and the statements the outbox runs. */
import type Database from 'better-sqlite3';
import { PdmError, type RecordKind } from '@pdm/protocol';
import { Tally, type StoredEntry } from './eviction.js';
import type { QuarantineNote, RecordClass } from './outbox.js';

export const SCHEMA_VERSION = 2;

/**
 * The meta key of the time (wall-clock ms) a commit last stored the states with none left out
 * (state-watch.ts). Upserted, not added by a migration: an older agent opening the file ignores it, where a
 * new schema version would make it refuse the file.
 */
export const STATES_STORED_AT = 'states_stored_at';

// STRICT tables: a wrong type is an error, not a silent conversion. `seq` is the rowid, so reading in
// seq order walks the table's own b-tree.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
   CREATE TABLE records (
     seq INTEGER PRIMARY KEY,
     kind TEXT NOT NULL,
     class TEXT NOT NULL,
     committed_at INTEGER NOT NULL,
     payload BLOB NOT NULL
   ) STRICT;
   CREATE TABLE dropped (reason TEXT PRIMARY KEY, count INTEGER NOT NULL) STRICT;
   INSERT INTO meta (key, value) VALUES ('last_seq', 0), ('delivered', 0);`,
  // issue 4: eviction takes the oldest of one class, and the critical lane of the forwarder reads one
  // class; an index entry carries the rowid, so (class) is ordered by (class, seq)
  `CREATE INDEX records_class ON records (class);
   INSERT INTO meta (key, value) VALUES ('quarantined', '[]');`,
];

/**
 * Brings the database to SCHEMA_VERSION; returns true when it was new. A database from a newer agent
 * is refused rather than guessed at.
 */
export function migrate(db: Database.Database): boolean {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new PdmError('OUTBOX_FAILED', 'outbox database is from a newer agent', { context: { version, supported: SCHEMA_VERSION } });
  }
  if (version === SCHEMA_VERSION) return false;
  db.transaction(() => {
    for (const sql of MIGRATIONS.slice(version)) db.exec(sql);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
  return version === 0;
}

/** Records embed the deviceId: a file of another device must never be published under this one. */
export function claim(db: Database.Database, deviceId: string): void {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'device_id'").get() as { value: string } | undefined;
  if (row === undefined) {
    db.prepare("INSERT INTO meta (key, value) VALUES ('device_id', ?)").run(deviceId);
  } else if (row.value !== deviceId) {
    throw new PdmError('OUTBOX_FAILED', 'outbox belongs to another device', { context: { stored: row.value, configured: deviceId } });
  }
}

/** The counters and the quarantine notes as stored: the outbox's cache of them at start. */
export function load(db: Database.Database): { tally: Tally; notes: QuarantineNote[]; statesStoredAt: number | undefined } {
  const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: unknown }[]).map((r) => [r.key, r.value]));
  const t = new Tally();
  t.lastSeq = Number(meta.get('last_seq'));
  t.delivered = Number(meta.get('delivered'));
  const rows = db.prepare('SELECT class, count(*) AS depth, coalesce(sum(length(payload)), 0) AS bytes FROM records GROUP BY class').all() as {
    class: keyof Tally['byClass'];
    depth: number;
    bytes: number;
  }[];
  for (const r of rows) t.byClass[r.class] = { depth: r.depth, bytes: r.bytes };
  for (const r of db.prepare('SELECT reason, count FROM dropped').all() as { reason: string; count: number }[]) t.dropped[r.reason] = r.count;
  const storedAt = meta.get(STATES_STORED_AT);
  return {
    tally: t, notes: JSON.parse(String(meta.get('quarantined') ?? '[]')) as QuarantineNote[],
    statesStoredAt: typeof storedAt === 'number' ? storedAt : undefined,
  };
}

/** A pending row, selected already in the shape of an OutboxEntry (no copy per row on the drain path). */
export interface Row {
  seq: number;
  kind: RecordKind;
  recordClass: RecordClass;
  committedAt: number;
  payload: Buffer;
}

export interface Statements {
  insert: Database.Statement<[number, string, string, number, Buffer]>;
  setMeta: Database.Statement<[number | string, string]>;
  /** key, value: a meta row that may not exist yet */
  putMeta: Database.Statement<[string, number | string]>;
  /** after, through, limit */
  pendingAll: Database.Statement<[number, number, number], Row>;
  /** class, after, through, limit */
  pendingClass: Database.Statement<[string, number, number, number], Row>;
  /** after, through, ",class,class,", limit */
  pendingClasses: Database.Statement<[number, number, string, number], Row>;
  /** class, after, limit */
  oldest: Database.Statement<[string, number, number], StoredEntry>;
  /** class, through, JSON array of seqs to keep (in flight) */
  evictRange: Database.Statement<[string, number, string]>;
  /** JSON array of seqs; deletes them all in one statement */
  remove: Database.Statement<[string], { bytes: number; class: RecordClass }>;
  addDropped: Database.Statement<[string, number]>;
  oldestPending: Database.Statement<[], { committedAt: number }>;
  /** key, value */
  putState: Database.Statement<[string, Buffer]>;
  getState: Database.Statement<[string], { value: Buffer }>;
}

const COLUMNS = 'seq, kind, class AS recordClass, committed_at AS committedAt, payload';

export function prepare(db: Database.Database): Statements {
  return {
    insert: db.prepare('INSERT INTO records (seq, kind, class, committed_at, payload) VALUES (?, ?, ?, ?, ?)'),
    setMeta: db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
    putMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    pendingAll: db.prepare(`SELECT ${COLUMNS} FROM records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`),
    pendingClass: db.prepare(`SELECT ${COLUMNS} FROM records INDEXED BY records_class
      WHERE class = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`),
    // several classes: walk the table in seq order and filter (the index would need a sort); critical
    // records are few, so the routine lanes of the forwarder skip little
    pendingClasses: db.prepare(`SELECT ${COLUMNS} FROM records NOT INDEXED
      WHERE seq > ? AND seq <= ? AND instr(?, ',' || class || ',') > 0 ORDER BY seq LIMIT ?`),
    oldest: db.prepare(`SELECT seq, length(payload) AS bytes, committed_at AS committedAt FROM records INDEXED BY records_class
      WHERE class = ? AND seq > ? ORDER BY seq LIMIT ?`),
    evictRange: db.prepare('DELETE FROM records WHERE class = ? AND seq <= ? AND seq NOT IN (SELECT value FROM json_each(?))'),
    remove: db.prepare('DELETE FROM records WHERE seq IN (SELECT value FROM json_each(?)) RETURNING length(payload) AS bytes, class'),
    addDropped: db.prepare(`INSERT INTO dropped (reason, count) VALUES (?, ?)
      ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count`),
    oldestPending: db.prepare('SELECT committed_at AS committedAt FROM records ORDER BY seq LIMIT 1'),
    // states (Outbox.state) live in `meta` under 'state:<key>': its page is written by every commit
    // anyway (last_seq), so a small state costs the commit no page of its own (measured: bench/RESULTS.md)
    putState: db.prepare(`INSERT INTO meta (key, value) VALUES ('state:' || ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
    getState: db.prepare(`SELECT value FROM meta WHERE key = 'state:' || ?`),
  };
}

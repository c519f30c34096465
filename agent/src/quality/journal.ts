/**
 * The quality monitor's pending state, durable: the records it was built from, kept in the outbox's
 * own SQLite file. A trigger on the outbox's `records` table copies every committed prediction batch,
 * quality window and machine event into `quality_journal` inside the outbox's own transaction, so what
 * was committed with a scored prediction survives a SIGKILL exactly as the prediction does, and a row
 * costs one blob copy per batch on the commit path (no JSON is read there). A restarted monitor reads
 * the journal back in commit order and rebuilds the same state (monitor.ts `start`).
 *
 * The journal holds only what the monitor may still need, pruned from what is durable (never from the
 * monitor's memory, which runs ahead of the last commit): per model version and role, the predictions
 * from H before its latest committed quality window's end, that window as the "published through" mark,
 * and the failures from the earliest such mark (and the newest RECENT_FAILURES whatever their time).
 * Past `maxPendingPredictions` the monitor's memory drops the oldest predictions (quality-windows.ts);
 * the journal keeps no cap of its own, which would drop at other points: each prune saves how far the
 * memory has dropped per model version and role (`quality_journal_dropped`) and forgets the batches
 * wholly before that mark. A restarted monitor skips what is at or before the mark and replays the rest
 * in commit order, so it drops again, at the same points, only what the last one dropped after its last
 * prune: the drops it logged with that prune are not counted twice.
 *
 * The journal never costs a record not sent yet: at SQLITE_FULL the outbox gives it up (`giveUp`, wired
 * as the outbox's `giveUpSpace`) before it evicts anything. The trigger and both tables are dropped for
 * the rest of this process's life (logged with the entries lost); the monitor keeps counting from memory,
 * a restart then rebuilds nothing, and the next start journals afresh from an empty state.
 */
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { PdmError, decodePayload, type RecordOf } from '@pdm/protocol';

export type JournalEntry =
  /** How far the cap had dropped predictions of `key` (monitor.ts keyOf) at the last prune; read first. */
  | { readonly seq: 0; readonly kind: 'dropped'; readonly key: string; readonly through: number }
  | { readonly seq: number; readonly kind: 'predictions'; readonly record: RecordOf<'predictions'> }
  | { readonly seq: number; readonly kind: 'quality'; readonly record: RecordOf<'quality'> }
  | { readonly seq: number; readonly kind: 'events'; readonly record: RecordOf<'events'> };

export interface QualityJournalDeps {
  /** The outbox's database file (runtime.ts OUTBOX_FILE); the outbox must have created it. */
  readonly file: string;
  /** false (quality tracking off): `start` removes the trigger and the journal, so commits copy nothing. */
  readonly enabled: boolean;
  /** Failure events kept whatever their time (default RECENT_FAILURES). */
  readonly recentFailures?: number;
  readonly log: Logger;
}

/** What the monitor tells a prune: the keys (`keyOf` in monitor.ts) of the trackers it still has. */
export interface PruneScope {
  readonly keys: readonly string[];
  /** Per key, the time at or before which its cap dropped every prediction (keys that dropped none are absent). */
  readonly droppedThrough: Readonly<Record<string, number>>;
}

/** As many failures as the monitor keeps to seed the trackers of models that start later. */
export const RECENT_FAILURES = 1000;
const KINDS = "('predictions', 'quality', 'events')";
/** Event time in ms of an ISO time inside the payload. */
const ms = (path: string): string => `CAST(round(unixepoch(CAST(payload AS TEXT) ->> '${path}', 'subsec') * 1000) AS INTEGER)`;

// The trigger copies the payload only; the index (key, t, h, n) is filled at prune time, once per row,
// so that the commit path parses no JSON, and kept in a table of its own so that filling it does not
// rewrite the payloads: key = model name, version and role (as monitor.ts keyOf) for predictions and
// quality, 'failure' for failure events ('' for other events); t = the batch's last prediction time, a
// window's end, an event's time (ms); h = the horizon in ms; n = predictions in the batch.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS quality_journal (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload BLOB NOT NULL) STRICT;
  CREATE TABLE IF NOT EXISTS quality_journal_index (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    t INTEGER,
    h INTEGER,
    n INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS quality_journal_key ON quality_journal_index (key, kind, t);
  CREATE TABLE IF NOT EXISTS quality_journal_dropped (key TEXT PRIMARY KEY, through INTEGER NOT NULL) STRICT;
  CREATE TRIGGER IF NOT EXISTS quality_journal_capture AFTER INSERT ON records WHEN NEW.kind IN ${KINDS}
  BEGIN
    INSERT OR REPLACE INTO quality_journal (seq, kind, payload) VALUES (NEW.seq, NEW.kind, NEW.payload);
  END;`;

const DROP = `DROP TRIGGER IF EXISTS quality_journal_capture; DROP TABLE IF EXISTS quality_journal; DROP TABLE IF EXISTS quality_journal_index;
  DROP TABLE IF EXISTS quality_journal_dropped;`;

const DESCRIBE = `
  INSERT INTO quality_journal_index (seq, kind, key, t, h, n)
  SELECT seq, kind,
    CASE kind
      WHEN 'events' THEN iif(CAST(payload AS TEXT) ->> '$.type' = 'failure', 'failure', '')
      ELSE concat_ws(char(0), CAST(payload AS TEXT) ->> '$.model.name', CAST(payload AS TEXT) ->> '$.model.version', CAST(payload AS TEXT) ->> '$.role')
    END,
    CASE kind WHEN 'predictions' THEN ${ms('$.time')} WHEN 'quality' THEN ${ms('$.windowEnd')} ELSE ${ms('$.at')} END,
    CAST(round((CAST(payload AS TEXT) ->> '$.horizonHours') * 3600000) AS INTEGER),
    iif(kind = 'predictions', json_array_length(CAST(payload AS TEXT), '$.predictions'), 0)
  FROM quality_journal WHERE seq > (SELECT coalesce(max(seq), 0) FROM quality_journal_index)`;

export class QualityJournal {
  private db: Database.Database | undefined;
  private statements: ReturnType<typeof prepare> | undefined;
  /** Given up for this process's life (the outbox was full): prunes and clears have nothing to do. */
  private givenUp = false;
  /** Journal entries given up with it, ever in this process: pending quality state a restart cannot rebuild. */
  entriesGivenUp = 0;

  constructor(private readonly deps: QualityJournalDeps) {}

  /** Opens the outbox's file and installs the journal and its trigger (idempotent); removes both when disabled. */
  start(): void {
    const { file, enabled } = this.deps;
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { fileMustExist: true });
      // the outbox set WAL mode on the file; this connection only prunes, a crash before a prune costs nothing
      db.pragma('synchronous = NORMAL');
      if (!enabled) {
        db.exec(DROP);
        db.close();
        return;
      }
      db.exec(SCHEMA);
      this.statements = prepare(db);
      this.db = db;
    } catch (cause) {
      db?.close();
      throw new PdmError('OUTBOX_FAILED', 'cannot open the quality journal in the outbox database', { cause, context: { file } });
    }
  }

  stop(): void {
    this.db?.close();
    this.db = undefined;
    this.statements = undefined;
  }

  /**
   * The outbox is full: drops the trigger and the journal (see the module comment). True when it freed
   * something; false when there was nothing to give up or the drop itself failed.
   */
  giveUp(): boolean {
    const db = this.db;
    if (db === undefined) return false;
    let entries: number;
    try {
      entries = (db.prepare('SELECT count(*) AS n FROM quality_journal').get() as { n: number }).n;
      db.exec(DROP);
    } catch (err) {
      this.deps.log.error({ err }, 'quality journal not given up');
      return false;
    }
    this.stop();
    this.givenUp = true;
    this.entriesGivenUp += entries;
    this.deps.log.error({ entries }, 'quality journal given up: the outbox is full; a restart now loses the pending quality state');
    return true;
  }

  /** The drop marks, then every entry in commit order; a row the protocol codec refuses is skipped and logged. */
  read(): JournalEntry[] {
    const sql = this.open();
    const out: JournalEntry[] = [];
    for (const { key, through } of sql.dropMarks.all() as { key: string; through: number }[]) out.push({ seq: 0, kind: 'dropped', key, through });
    let invalid = 0;
    for (const row of sql.all.iterate() as Iterable<{ seq: number; kind: string; payload: Buffer }>) {
      const kind = row.kind as Exclude<JournalEntry['kind'], 'dropped'>;
      let record: RecordOf<typeof kind>;
      try {
        record = decodePayload(kind, row.payload);
      } catch (err) {
        if (invalid++ === 0) this.deps.log.warn({ seq: row.seq, kind, problem: err instanceof Error ? err.message : String(err) }, 'quality journal entry unreadable; skipped');
        continue;
      }
      out.push({ seq: row.seq, kind, record } as JournalEntry);
    }
    return out;
  }

  /** Forgets what no tracker in `scope` can need any more (see the module comment); one transaction. */
  prune(scope: PruneScope): void {
    if (this.givenUp) return;
    const { db, sql } = this.openDb();
    const { recentFailures = RECENT_FAILURES } = this.deps;
    const keys = JSON.stringify(scope.keys);
    db.transaction(() => {
      sql.describe.run();
      sql.irrelevant.run(keys);
      sql.olderMarks.run();
      sql.matured.run();
      sql.forgetDropMarks.run(keys);
      sql.saveDropMarks.run(JSON.stringify(scope.droppedThrough));
      sql.dropped.run();
      sql.oldFailures.run(recentFailures);
      sql.unindexed.run();
    })();
  }

  /** Forgets everything (end of input: every window was published). */
  clear(): void {
    if (this.givenUp) return;
    const { db } = this.openDb();
    db.exec('DELETE FROM quality_journal; DELETE FROM quality_journal_index; DELETE FROM quality_journal_dropped;');
  }

  private open(): ReturnType<typeof prepare> {
    return this.openDb().sql;
  }

  private openDb(): { db: Database.Database; sql: ReturnType<typeof prepare> } {
    if (this.db === undefined || this.statements === undefined) throw new PdmError('OUTBOX_FAILED', 'quality journal is not open');
    return { db: this.db, sql: this.statements };
  }
}

/** The prune's statements: each deletes from the index; `unindexed` then deletes the payloads. */
function prepare(db: Database.Database) {
  const J = 'quality_journal_index';
  return {
    all: db.prepare('SELECT seq, kind, payload FROM quality_journal ORDER BY seq'),
    describe: db.prepare(DESCRIBE),
    // batches without a horizon (no quality tracked), other machine events, models no tracker follows
    irrelevant: db.prepare(`DELETE FROM ${J} WHERE key = '' OR (kind <> 'events' AND (h IS NULL OR key NOT IN (SELECT value FROM json_each(?))))`),
    // the latest committed window of each tracker is its "published through" mark
    olderMarks: db.prepare(`DELETE FROM ${J} AS j WHERE kind = 'quality'
      AND t < (SELECT max(q.t) FROM ${J} q WHERE q.key = j.key AND q.kind = 'quality')`),
    // predictions more than H before that mark judge nothing any more
    matured: db.prepare(`DELETE FROM ${J} AS j WHERE kind = 'predictions'
      AND t < (SELECT max(q.t - q.h) FROM ${J} q WHERE q.key = j.key AND q.kind = 'quality')`),
    dropMarks: db.prepare('SELECT key, through FROM quality_journal_dropped ORDER BY key'),
    // marks of models no tracker follows; then the monitor's marks, which only move forward
    forgetDropMarks: db.prepare('DELETE FROM quality_journal_dropped WHERE key NOT IN (SELECT value FROM json_each(?))'),
    saveDropMarks: db.prepare(`INSERT INTO quality_journal_dropped (key, through) SELECT key, value FROM json_each(?) WHERE true
      ON CONFLICT (key) DO UPDATE SET through = max(through, excluded.through)`),
    // whole batches the monitor's cap dropped (a batch's t is its last prediction's time)
    dropped: db.prepare(`DELETE FROM ${J} AS j WHERE kind = 'predictions'
      AND t <= (SELECT d.through FROM quality_journal_dropped d WHERE d.key = j.key)`),
    // failures before every tracker's mark (while each has one), but the newest ones
    oldFailures: db.prepare(`DELETE FROM ${J} WHERE kind = 'events'
      AND t < (SELECT min(mark) FROM (SELECT max(t) AS mark FROM ${J} WHERE kind = 'quality' GROUP BY key))
      AND NOT EXISTS (SELECT 1 FROM ${J} p WHERE p.kind = 'predictions' AND p.key NOT IN (SELECT key FROM ${J} WHERE kind = 'quality'))
      AND seq NOT IN (SELECT seq FROM ${J} WHERE kind = 'events' ORDER BY seq DESC LIMIT ?)`),
    // every row was indexed at the start of this transaction: what the index no longer holds goes
    unindexed: db.prepare(`DELETE FROM quality_journal WHERE seq NOT IN (SELECT seq FROM ${J})`),
  };
}

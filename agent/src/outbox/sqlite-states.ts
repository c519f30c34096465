/**
 * The states the SQLite outbox keeps beside its records (Outbox.commit's `state`: the feature-window
 * tail, the drift windows): written in the records' transaction by the outbox itself, and here in a
 * transaction of their own, for a commit with no records or one whose records were all shed on a full disk.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { StateWrite } from './outbox.js';
import type { Statements } from './sqlite-schema.js';

/** Whether SQLite refused a write for want of room (the disk or the file's cap). */
export const isFull = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'SQLITE_FULL';

/** The states in one transaction: all or none; throws what SQLite throws. */
export function putStates(db: Database.Database, sql: Statements, states: readonly StateWrite[]): void {
  db.transaction(() => {
    for (const st of states) sql.putState.run(st.key, st.value);
  })();
}

/**
 * The states of a commit whose records were all shed (a full disk): where they find no room either, none
 * is written (the commit returns no entry, which tells the caller they may be missing, Outbox.commit).
 */
export function tryPutStates(db: Database.Database, sql: Statements, states: readonly StateWrite[], log: Logger): void {
  try {
    putStates(db, sql, states);
  } catch (err) {
    const keys = states.map((st) => st.key);
    if (isFull(err)) log.warn({ err, keys }, 'state not written: outbox full');
    else log.error({ err, keys }, 'state not written');
  }
}

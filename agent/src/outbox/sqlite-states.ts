/**
 * The states the SQLite outbox keeps beside its records (Outbox.commit's `state`: the feature-window
 * tail, the drift windows, the metric windows): written in the records' transaction, by the same
 * write (sqlite-outbox.ts commitWithStates), also for a commit of states alone; on a full disk they are
 * left out before any record.
 */
import type { StateWrite } from './outbox.js';
import type { Statements } from './sqlite-schema.js';

/** Whether SQLite refused a write for want of room (the disk or the file's cap). */
export const isFull = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'SQLITE_FULL';

/** The states, within the transaction the caller runs; throws what SQLite throws. */
export function putStates(sql: Statements, states: readonly StateWrite[]): void {
  for (const st of states) sql.putState.run(st.key, st.value);
}

/** The bytes the states' values take. */
export const stateBytes = (states: readonly StateWrite[]): number => states.reduce((n, st) => n + st.value.byteLength, 0);

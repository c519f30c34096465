/**
 * The states the SQLite outbox keeps beside its records (Outbox.commit's `state`: the feature-window
 * tail, the drift windows, the metric windows): written in the records' transaction, by the same
 * write and full-disk loop (sqlite-outbox.ts commitWithStates), also for a commit of states alone.
 */
import type { Logger } from 'pino';
import type { StateWrite } from './outbox.js';
import type { Statements } from './sqlite-schema.js';

/** Whether SQLite refused a write for want of room (the disk or the file's cap). */
export const isFull = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'SQLITE_FULL';

/** The states, within the transaction the caller runs; throws what SQLite throws. */
export function putStates(sql: Statements, states: readonly StateWrite[]): void {
  for (const st of states) sql.putState.run(st.key, st.value);
}

/** States that found no room even once nothing routine was left: not stored, and the warning says why. */
export function stateNotStored(log: Logger, states: readonly StateWrite[]): void {
  log.warn({ keys: states.map((st) => st.key) }, 'state not written: outbox full');
}

/**
 * What the restart keepers share when they take their snapshot back (features/window-tail.ts,
 * quality/drift-state.ts, metrics/open-windows.ts): reading it from the outbox, where a failing outbox is
 * not a judgement on the snapshot (logged at error) and an unreadable one says what is wrong with it
 * (warning); and whether the source resumed at the reading mark it was taken at.
 */
import type { Logger } from 'pino';
import { sameMark, type Mark } from './features/window-tail.js';
import type { Outbox } from './outbox/outbox.js';

/** The keeper's own log messages (constant strings, one pair per keeper). */
export interface SnapshotMessages {
  readonly outboxFailed: string;
  readonly unreadable: string;
}

/** The snapshot stored under `key`, decoded; undefined when none is stored or it cannot be used (logged). */
export function readSnapshot<T>(
  deps: { readonly outbox: Pick<Outbox, 'state'>; readonly log: Logger }, key: string, decode: (raw: Buffer) => T, messages: SnapshotMessages,
): T | undefined {
  let raw: Buffer | undefined;
  try {
    raw = deps.outbox.state(key);
  } catch (err) {
    deps.log.error({ err }, messages.outboxFailed);
    return undefined;
  }
  if (raw === undefined) return undefined;
  try {
    return decode(raw);
  } catch (err) {
    deps.log.warn({ err, bytes: raw.length }, messages.unreadable);
    return undefined;
  }
}

/**
 * Why a snapshot taken at reading mark `mark` does not hold where the source resumed (`after`), with the
 * level to log it at; undefined when it resumed exactly there.
 */
export function resumeMismatch(after: Mark | undefined, mark: Mark | undefined): { why: string; level: 'info' | 'warn' } | undefined {
  // a replay from the first row (source.resume false) is asked for: worth an info line, not a warning
  if (after === undefined) return { why: 'the source did not resume', level: 'info' };
  if (sameMark(after, mark)) return undefined;
  const before = mark === undefined || after.time < mark.time || (after.time === mark.time && after.count < mark.count);
  // before the mark the replay would count rows twice; after it, rows committed since would be missing
  return { why: before ? 'the source resumed before the last row it counted' : 'the source resumed after rows it did not count', level: 'warn' };
}

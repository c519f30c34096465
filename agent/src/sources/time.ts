/**
 * Event-time parsing for replayed files. Azure PdM writes `2015-01-01 06:00:00` with no zone: such
 * times are read as UTC, so a replay gives the same record times on every machine.
 */
const NAIVE = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)$/;
const WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/** Milliseconds since the epoch, or undefined when the text is not a date-time this parser knows. */
export function parseEventTime(text: string): number | undefined {
  const s = text.trim();
  const naive = NAIVE.exec(s);
  const iso = naive === null ? (WITH_OFFSET.test(s) ? s : undefined) : `${naive[1]}T${naive[2]}Z`;
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : undefined;
}

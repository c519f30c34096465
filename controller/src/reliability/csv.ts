/** The report's groups as CSV (RFC 4180: comma, CRLF, quotes doubled), one row per group plus a total row. */
import type { Figures } from './figures.js';
import type { GroupsTable } from './report.js';

export const CSV_COLUMNS = [
  'group', 'assets', 'from', 'to', 'calendarHours', 'operatingHours', 'failures', 'mtbfHours', 'repairs', 'repairHours', 'mttrHours',
  'availability', 'unplannedDowntimeHours', 'plannedDowntimeHours', 'otherDowntimeHours', 'maintenance',
] as const;

const cell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** A number cell: never quoted (no comma, quote or line break in a number's text); null empty. */
const num = (v: number | null): string => (v === null ? '' : String(v));

// only the key is text from outside; the dates are ISO and the rest numbers (10,000 rows in a report by asset)
function row(key: string, f: Figures, period: string): string {
  return `${cell(key)},${f.assets},${period},${f.calendarHours},${f.operatingHours},${f.failures},${num(f.mtbfHours)},${f.repairs},`
    + `${f.repairHours},${num(f.mttrHours)},${num(f.availability)},${f.downtimeHours.unplanned},${f.downtimeHours.planned},`
    + `${f.downtimeHours.other},${f.maintenance}`;
}

/** The CSV of a full report or of its groups table alone (groupsTable): the same rows. */
export function reportCsv(report: GroupsTable): string {
  const period = `${cell(report.period.from)},${cell(report.period.to)}`;
  const lines = [CSV_COLUMNS.join(','), ...report.groups.map((g) => row(g.key, g, period)), row('(total)', report.totals, period)];
  return `${lines.join('\r\n')}\r\n`;
}

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

function row(key: string, f: Figures, report: GroupsTable): string {
  return [
    key, f.assets, report.period.from, report.period.to, f.calendarHours, f.operatingHours, f.failures, f.mtbfHours, f.repairs, f.repairHours,
    f.mttrHours, f.availability, f.downtimeHours.unplanned, f.downtimeHours.planned, f.downtimeHours.other, f.maintenance,
  ].map(cell).join(',');
}

/** The CSV of a full report or of its groups table alone (reliabilityGroups): the same rows. */
export function reportCsv(report: GroupsTable): string {
  const lines = [CSV_COLUMNS.join(','), ...report.groups.map((g) => row(g.key, g, report)), row('(total)', report.totals, report)];
  return `${lines.join('\r\n')}\r\n`;
}

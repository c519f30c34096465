/**
 * The CSV's rows come from groupsTable (the JSON report from reportOf): its groups must come out in the
 * order `sort` asks for, as the JSON report's do. Four assets whose key, availability and downtime orders
 * all differ (period 240 h, a failure without an end assumed 8 h):
 * - A: failure h10, assumed 8 h: availability 232/240, unplanned 8 h;
 * - M: failure h20 ended h44: availability 216/240, unplanned 24 h;
 * - N: external downtime the whole period: no availability, unplanned 0 h;
 * - Z: planned downtime 48 h: availability 192/240, unplanned 0 h.
 */
import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, reportCsv } from './csv.js';
import { downtime } from './intervals.js';
import { PeriodSums } from './period-sums.js';
import { groupsTable, reliabilityReport, type GroupSort, type ReportInput } from './report.js';

const T0 = Date.parse('2015-01-01T00:00:00Z');
const h = (hours: number): number => T0 + hours * 3_600_000;

const input: ReportInput = {
  assets: ['A', 'M', 'N', 'Z'].map((assetId) => ({ assetId, assetClass: 'c1', site: 's1' })),
  events: {
    failures: [{ assetId: 'A', at: h(10), component: 'comp1' }, { assetId: 'M', at: h(20), end: h(44), component: 'comp2' }],
    maintenance: [],
    downtime: [{ assetId: 'N', start: h(0), end: h(240), cause: 'other' }, { assetId: 'Z', start: h(100), end: h(148), cause: 'planned' }],
  },
  versions: [],
  caughtMissed: () => ({ caught: 0, missed: 0 }),
};
const options = { from: h(0), to: h(240), bucket: 'week' as const, groupBy: 'asset' as const, assumptions: { failureHours: 8, maintenanceHours: 2 } };
const d = { ...downtime(input.events, options.assumptions), sums: new PeriodSums() };

/** The CSV's data rows (the header left out), split into cells. */
const rows = (sort: GroupSort, page?: { offset: number; limit: number }): string[][] =>
  reportCsv(groupsTable(input.assets, d, { ...options, sort, page })).split('\r\n').slice(1, -1).map((line) => line.split(','));
const column = (name: (typeof CSV_COLUMNS)[number]): number => CSV_COLUMNS.indexOf(name);

describe('groupsTable (the CSV) sorted', () => {
  it('writes the groups least available first, the one without availability after them, the total last', () => {
    expect(rows('availability').map((r) => [r[0], r[column('availability')]])).toEqual([
      ['Z', '0.8'], ['M', '0.9'], ['A', '0.966667'], ['N', ''], ['(total)', '0.888889'],
    ]);
  });

  it('writes the groups by unplanned downtime, most first, ties by key', () => {
    expect(rows('downtime').map((r) => [r[0], r[column('unplannedDowntimeHours')]])).toEqual([
      ['M', '24'], ['A', '8'], ['N', '0'], ['Z', '0'], ['(total)', '32'],
    ]);
    expect(rows('downtime', { offset: 1, limit: 2 }).map((r) => r[0])).toEqual(['A', 'N', '(total)']);
  });

  it('writes the same rows as the whole report sorted alike, and key order by default', () => {
    for (const sort of ['availability', 'downtime'] as const) {
      expect(reportCsv(groupsTable(input.assets, d, { ...options, sort }))).toBe(reportCsv(reliabilityReport(input, { ...options, sort })));
    }
    expect(rows('key').map((r) => r[0])).toEqual(['A', 'M', 'N', 'Z', '(total)']);
  });
});

/**
 * The report against a small fixture computed by hand (period 240 h, failures assumed 8 h, maintenance 2 h):
 * - A: failure h6 comp1 (assumed: [6,14)), its corrective maintenance h6 comp1 (not planned work),
 *   failure h96 comp2 ended h108 (12 h), maintenance h154 comp3 ([154,156) planned);
 * - B: failures h24 comp1 and comp2 at once ([24,32) counted once, 4 h to each component; 2 repairs
 *   of 8 h), maintenance h28 comp3 inside that stop (unplanned wins), downtime other [48,58);
 * - C: planned downtime [236,246) clipped to the period; a failure at h250 outside it.
 */
import { describe, expect, it } from 'vitest';
import { reportCsv } from './csv.js';
import { union } from './intervals.js';
import { reliabilityQuerySchema, withDefaultPage } from './reliability-service.js';
import { REPORT_PAGE, reliabilityReport, type ReportInput } from './report.js';

const T0 = Date.parse('2015-01-01T00:00:00Z');
const h = (hours: number): number => T0 + hours * 3_600_000;

const input: ReportInput = {
  assets: [
    { assetId: 'A', assetClass: 'c1', site: 's1' },
    { assetId: 'B', assetClass: 'c1', site: 's2' },
    { assetId: 'C', assetClass: 'c2', site: 's1' },
  ],
  events: {
    failures: [
      { assetId: 'A', at: h(6), component: 'comp1' },
      { assetId: 'A', at: h(96), end: h(108), component: 'comp2' },
      { assetId: 'B', at: h(24), component: 'comp1' },
      { assetId: 'B', at: h(24), component: 'comp2' },
      { assetId: 'C', at: h(250), component: 'comp1' },
    ],
    maintenance: [
      { assetId: 'A', at: h(6), component: 'comp1' },
      { assetId: 'A', at: h(154), component: 'comp3' },
      { assetId: 'B', at: h(28), component: 'comp3' },
    ],
    downtime: [
      { assetId: 'B', start: h(48), end: h(58), cause: 'other' },
      { assetId: 'C', start: h(236), end: h(246), cause: 'planned' },
    ],
  },
  versions: [
    { assetId: 'A', model: 'm', version: '1.0.0', from: h(0), to: h(120) },
    { assetId: 'A', model: 'm', version: '1.1.0', from: h(120), to: h(240) },
  ],
  caughtMissed: (_a, _m, version) => (version === '1.0.0' ? { caught: 1, missed: 1 } : { caught: 0, missed: 0 }),
};

const options = { from: h(0), to: h(240), bucket: 'week' as const, assumptions: { failureHours: 8, maintenanceHours: 2 } };

describe('reliability report, hand-computed fixture', () => {
  it('gives per-asset operating time, failures, MTBF, MTTR, availability and downtime by cause', () => {
    const r = reliabilityReport(input, { ...options, groupBy: 'asset' });
    const byKey = Object.fromEntries(r.groups.map((g) => [g.key, g]));
    expect(byKey['A']).toMatchObject({
      calendarHours: 240, operatingHours: 218, downtimeHours: { unplanned: 20, planned: 2, other: 0 },
      failures: 2, mtbfHours: 109, repairs: 2, repairHours: 20, mttrHours: 10, availability: 0.908333, maintenance: 1,
    });
    expect(byKey['B']).toMatchObject({
      calendarHours: 240, operatingHours: 222, downtimeHours: { unplanned: 8, planned: 0, other: 10 },
      failures: 2, mtbfHours: 111, repairHours: 16, mttrHours: 8, availability: 0.965217, maintenance: 1,
    });
    expect(byKey['C']).toMatchObject({
      calendarHours: 240, operatingHours: 236, downtimeHours: { unplanned: 0, planned: 4, other: 0 },
      failures: 0, mtbfHours: null, mttrHours: null, availability: 0.983333, maintenance: 0,
    });
    expect(r.totals).toMatchObject({
      assets: 3, calendarHours: 720, operatingHours: 676, downtimeHours: { unplanned: 28, planned: 6, other: 10 },
      failures: 4, mtbfHours: 169, repairs: 4, repairHours: 36, mttrHours: 9, availability: 0.952113,
    });
    expect(r.assumptions).toMatchObject({ repairHours: { failure: 8, maintenance: 2 }, appliedTo: { failures: 4, maintenance: 2 }, correctiveMaintenance: 1 });
    expect(r.assumptions.statement).toMatch(/failure is assumed to stop the asset for 8 h and a maintenance for 2 h/);
    expect(r.definitions.mtbfHours).toMatch(/SMRP 3\.5\.1/);
    expect(r.definitions.mttrHours).toMatch(/clock starts when the asset stops/);
  });

  it('groups by asset class and by site with sums first, ratios last', () => {
    const byClass = Object.fromEntries(reliabilityReport(input, { ...options, groupBy: 'assetClass' }).groups.map((g) => [g.key, g]));
    expect(byClass['c1']).toMatchObject({ assetIds: ['A', 'B'], operatingHours: 440, failures: 4, mtbfHours: 110, mttrHours: 9, availability: 0.93617 });
    expect(byClass['c2']).toMatchObject({ assetIds: ['C'], operatingHours: 236, failures: 0 });
    const bySite = Object.fromEntries(reliabilityReport(input, { ...options, groupBy: 'site' }).groups.map((g) => [g.key, g]));
    expect(bySite['s1']).toMatchObject({ assetIds: ['A', 'C'], operatingHours: 454, failures: 2, mtbfHours: 227 });
  });

  it('gives the downtime Pareto by asset, by cause and by failed component', () => {
    const { pareto } = reliabilityReport(input, { ...options, groupBy: 'asset' });
    expect(pareto.byAsset).toEqual([
      { key: 'A', hours: 22, share: 0.5, cumulativeShare: 0.5 },
      { key: 'B', hours: 18, share: 0.409091, cumulativeShare: 0.909091 },
      { key: 'C', hours: 4, share: 0.090909, cumulativeShare: 1 },
    ]);
    expect(pareto.byCause).toEqual([
      { key: 'unplanned', hours: 28, share: 0.636364, cumulativeShare: 0.636364 },
      { key: 'other', hours: 10, share: 0.227273, cumulativeShare: 0.863636 },
      { key: 'planned', hours: 6, share: 0.136364, cumulativeShare: 1 },
    ]);
    expect(pareto.byComponent).toEqual([
      { key: 'comp2', hours: 16, share: 0.571429, cumulativeShare: 0.571429 },
      { key: 'comp1', hours: 12, share: 0.428571, cumulativeShare: 1 },
    ]);
  });

  it('gives a trend per ISO week, clipped to the period', () => {
    const { trend } = reliabilityReport(input, { ...options, groupBy: 'asset' });
    expect(trend.periods.map((p) => [p.from, p.to, p.calendarHours, p.operatingHours, p.failures, p.mtbfHours])).toEqual([
      ['2015-01-01T00:00:00.000Z', '2015-01-05T00:00:00.000Z', 288, 262, 3, 87.3333],
      ['2015-01-05T00:00:00.000Z', '2015-01-11T00:00:00.000Z', 432, 414, 1, 414],
    ]);
  });

  it('shows each model version with failures caught and missed and unplanned downtime before and after it', () => {
    const { modelVersions } = reliabilityReport(input, { ...options, groupBy: 'asset' });
    expect(modelVersions).toEqual([
      {
        assetId: 'A', model: 'm', version: '1.0.0', activeFrom: '2015-01-01T00:00:00.000Z', activeUntil: '2015-01-06T00:00:00.000Z',
        failures: 2, caught: 1, missed: 1,
        before: { from: '2015-01-01T00:00:00.000Z', to: '2015-01-01T00:00:00.000Z', operatingHours: 0, unplannedDowntimeHours: 0, failures: 0, unplannedPer1000h: null },
        after: { from: '2015-01-01T00:00:00.000Z', to: '2015-01-06T00:00:00.000Z', operatingHours: 100, unplannedDowntimeHours: 20, failures: 2, unplannedPer1000h: 200 },
      },
      {
        assetId: 'A', model: 'm', version: '1.1.0', activeFrom: '2015-01-06T00:00:00.000Z', activeUntil: '2015-01-11T00:00:00.000Z',
        failures: 0, caught: 0, missed: 0,
        before: { from: '2015-01-01T00:00:00.000Z', to: '2015-01-06T00:00:00.000Z', operatingHours: 100, unplannedDowntimeHours: 20, failures: 2, unplannedPer1000h: 200 },
        after: { from: '2015-01-06T00:00:00.000Z', to: '2015-01-11T00:00:00.000Z', operatingHours: 118, unplannedDowntimeHours: 0, failures: 0, unplannedPer1000h: 0 },
      },
    ]);
  });

  it('writes the groups and the total as CSV', () => {
    const csv = reportCsv(reliabilityReport(input, { ...options, groupBy: 'assetClass' }));
    expect(csv.split('\r\n')).toEqual([
      'group,assets,from,to,calendarHours,operatingHours,failures,mtbfHours,repairs,repairHours,mttrHours,availability,unplannedDowntimeHours,plannedDowntimeHours,otherDowntimeHours,maintenance',
      'c1,2,2015-01-01T00:00:00.000Z,2015-01-11T00:00:00.000Z,480,440,4,110,4,36,9,0.93617,28,2,10,2',
      'c2,1,2015-01-01T00:00:00.000Z,2015-01-11T00:00:00.000Z,240,236,0,,0,0,,0.983333,0,4,0,0',
      '(total),3,2015-01-01T00:00:00.000Z,2015-01-11T00:00:00.000Z,720,676,4,169,4,36,9,0.952113,28,6,10,2',
      '',
    ]);
  });

  it('unions overlapping intervals, the highest-priority cause winning', () => {
    expect(union([
      { assetId: 'X', start: 0, end: 10, cause: 'other', component: undefined },
      { assetId: 'X', start: 5, end: 20, cause: 'planned', component: 'p' },
      { assetId: 'X', start: 8, end: 12, cause: 'unplanned', component: 'u' },
    ]).map((s) => [s.start, s.end, s.cause])).toEqual([[0, 5, 'other'], [5, 8, 'planned'], [8, 12, 'unplanned'], [12, 20, 'planned']]);
  });
});

describe('reliability report, lighter forms for large fleets', () => {
  const full = reliabilityReport(input, { ...options, groupBy: 'asset' });

  it('pages the groups with the model versions and the Pareto by asset of their assets, the rest of the whole scope', () => {
    const page = reliabilityReport(input, { ...options, groupBy: 'asset', page: { offset: 0, limit: 1 } });
    expect(page.page).toEqual({ offset: 0, limit: 1, groups: 3, next: 1 });
    expect(page.groups).toEqual([full.groups[0]]);
    expect(page.modelVersions).toEqual(full.modelVersions!.filter((v) => v.assetId === 'A'));
    expect(page.pareto.byAsset).toEqual(full.pareto.byAsset!.filter((e) => e.key === 'A'));
    expect({ ...page, page: undefined, groups: [], modelVersions: [], pareto: { ...page.pareto, byAsset: [] } })
      .toEqual({ ...full, page: undefined, groups: [], modelVersions: [], pareto: { ...full.pareto, byAsset: [] } });
    const last = reliabilityReport(input, { ...options, groupBy: 'asset', page: { offset: 2, limit: 5 } });
    expect(last.groups.map((g) => g.key)).toEqual(['C']);
    // the last page has no next, also when it is exactly full
    expect(last.page).toEqual({ offset: 2, limit: 5, groups: 3 });
    expect(reliabilityReport(input, { ...options, groupBy: 'asset', page: { offset: 1, limit: 2 } }).page).toEqual({ offset: 1, limit: 2, groups: 3 });
    const past = reliabilityReport(input, { ...options, groupBy: 'asset', page: { offset: 9, limit: 2 } });
    expect(past.groups).toEqual([]);
    expect(past.page).toEqual({ offset: 9, limit: 2, groups: 3 });
    expect(last.modelVersions).toEqual([]);
    expect(full.page).toBeUndefined();
  });

  it('leaves out the per-asset lists with perAsset omit, and only those', () => {
    const bySite = reliabilityReport(input, { ...options, groupBy: 'site' });
    const omitted = reliabilityReport(input, { ...options, groupBy: 'site', perAsset: 'omit' });
    expect(Object.keys(omitted)).not.toContain('modelVersions');
    expect(Object.keys(omitted.pareto)).toEqual(['byCause', 'byComponent']);
    expect(omitted.groups.map((g) => Object.keys(g))).toEqual(bySite.groups.map((g) => Object.keys(g).filter((k) => k !== 'assetIds')));
    const { modelVersions: _v, pareto, groups, ...rest } = bySite;
    expect(omitted).toEqual({ ...rest, pareto: { byCause: pareto.byCause, byComponent: pareto.byComponent }, groups: groups.map(({ assetIds: _a, ...g }) => g) });
  });

  it('sorts the groups by availability (none last) or unplanned downtime before the page, ties by key', () => {
    // D: the longest failure and the last key; E: only external downtime, so no availability at all
    const wider: ReportInput = {
      ...input,
      assets: [...input.assets, { assetId: 'D', assetClass: 'c2', site: 's2' }, { assetId: 'E', assetClass: 'c2', site: 's2' }],
      events: {
        ...input.events,
        failures: [...input.events.failures, { assetId: 'D', at: h(10), end: h(70), component: 'comp1' }],
        downtime: [...input.events.downtime, { assetId: 'E', start: h(0), end: h(240), cause: 'other' }],
      },
      versions: [...input.versions, { assetId: 'D', model: 'm', version: '1.0.0', from: h(0), to: h(240) }],
    };
    const all = reliabilityReport(wider, { ...options, groupBy: 'asset' });
    expect(all.groups.map((g) => [g.key, g.availability])).toEqual([['A', 0.908333], ['B', 0.965217], ['C', 0.983333], ['D', 0.75], ['E', null]]);
    const keys = (sort: 'key' | 'availability' | 'downtime', page?: { offset: number; limit: number }) =>
      reliabilityReport(wider, { ...options, groupBy: 'asset', sort, page }).groups.map((g) => g.key);
    expect(keys('key')).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(keys('availability')).toEqual(['D', 'A', 'B', 'C', 'E']);
    // C and E both have no unplanned downtime: by key
    expect(keys('downtime')).toEqual(['D', 'A', 'B', 'C', 'E']);
    expect(keys('downtime', { offset: 3, limit: 2 })).toEqual(['C', 'E']);
    const worst = reliabilityReport(wider, { ...options, groupBy: 'asset', sort: 'availability', page: { offset: 0, limit: 2 } });
    expect(worst.page).toEqual({ offset: 0, limit: 2, groups: 5, next: 2 });
    expect(worst.groups).toEqual([all.groups[3], all.groups[0]]);
    expect(worst.modelVersions!.map((v) => v.assetId)).toEqual(['A', 'A', 'D']);
    expect(worst.pareto.byAsset).toEqual(all.pareto.byAsset!.filter((e) => e.key === 'A' || e.key === 'D'));
    expect(worst.totals).toEqual(all.totals);
    const byClass = reliabilityReport(wider, { ...options, groupBy: 'assetClass', sort: 'availability' });
    expect(byClass.groups.map((g) => g.key)).toEqual(['c2', 'c1']);
  });

  it('takes limit (at most 1000) and offset as query text', () => {
    expect(reliabilityQuerySchema.parse({ limit: '1000', offset: '4000' })).toMatchObject({ limit: 1000, offset: 4000, perAsset: 'include' });
    // an offset alone is a page of the default size (withDefaultPage)
    expect(reliabilityQuerySchema.parse({ offset: '5' })).toMatchObject({ offset: 5 });
    const big = reliabilityQuerySchema.safeParse({ limit: '1001' });
    expect(big.error?.issues.map((i) => [i.path, i.message])).toEqual([[['limit'], 'at most 1000 groups a page: format=csv without limit gives the whole groups table, or walk the pages (offset=page.next)']]);
    expect(reliabilityQuerySchema.safeParse({ limit: '0' }).success).toBe(false);
    expect(reliabilityQuerySchema.safeParse({ perAsset: 'none' }).success).toBe(false);
    expect(reliabilityQuerySchema.parse({})).toMatchObject({ sort: 'key' });
    const sort = reliabilityQuerySchema.safeParse({ sort: 'mtbf' });
    expect(sort.error?.issues.map((i) => [i.path, i.message])).toEqual([[['sort'], 'Invalid option: expected one of "key"|"availability"|"downtime"']]);
  });

  it('pages JSON by default and leaves CSV whole unless a page is asked for', () => {
    expect(REPORT_PAGE).toEqual({ default: 100, max: 1000 });
    const q = { groupBy: 'asset', bucket: 'week' } as const;
    expect(withDefaultPage(q, 'json')).toEqual({ ...q, limit: 100, offset: 0 });
    expect(withDefaultPage({ ...q, offset: 300 }, 'json')).toEqual({ ...q, offset: 300, limit: 100 });
    expect(withDefaultPage({ ...q, limit: 7, offset: 3 }, 'json')).toEqual({ ...q, limit: 7, offset: 3 });
    expect(withDefaultPage(q, 'csv')).toEqual(q);
    expect(withDefaultPage({ ...q, offset: 300 }, 'csv')).toEqual({ ...q, offset: 300, limit: 100 });
    expect(withDefaultPage({ ...q, limit: 7 }, 'csv')).toEqual({ ...q, limit: 7, offset: 0 });
  });
});

/**
 * The reliability report over the database: resolves the scope (assets by site, class or id) and the
 * period (the one asked for, else the time the data covers), then builds the report.
 */
import { z } from 'zod';
import { nameSchema, timeSchema } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { type Db, readTransaction } from '../db/database.js';
import { queryInt } from '../query-int.js';
import type { RepairAssumptions } from './intervals.js';
import { reportCsv } from './csv.js';
import { DowntimeState, type DowntimeStateOptions } from './downtime-state.js';
import { REPORT_PAGE, assetIdsOf, groupsTable, reportLayout, reportOf, type AssetInfo, type GroupBy, type ReliabilityReport } from './report.js';
import { KeptGroups, reportJson, type KeptGroupsOptions } from './report-json.js';
import { ReliabilitySource } from './source.js';
import { VersionImpacts } from './version-impacts.js';

export const reliabilityQuerySchema = z.strictObject({
  from: timeSchema.optional().describe('period start (default: the earliest data of the assets in scope)'),
  to: timeSchema.optional().describe('period end, exclusive (default: the latest data)'),
  groupBy: z.enum(['asset', 'assetClass', 'site']).default('asset'),
  bucket: z.enum(['day', 'week', 'month']).default('week').describe('trend buckets (UTC calendar)'),
  site: nameSchema.optional(),
  assetClass: nameSchema.optional(),
  assetId: nameSchema.optional(),
  format: z.enum(['json', 'csv']).optional().describe('csv: the groups table; also chosen by Accept: text/csv'),
  perAsset: z.enum(['include', 'omit']).default('include')
    .describe('omit: leave out the per-asset lists (groups[].assetIds, pareto.byAsset, modelVersions); a report by class or site of a large fleet is then a few KB'),
  sort: z.enum(['key', 'availability', 'downtime']).default('key')
    .describe('the groups\' order, before paging: key (natural order of the keys), availability (ascending, groups without availability last) or downtime (unplanned downtime hours, descending); ties by key'),
  limit: queryInt(z.number().int().min(1).max(REPORT_PAGE.max, {
    message: `at most ${REPORT_PAGE.max} groups a page: format=csv without limit gives the whole groups table, or walk the pages (offset=page.next)`,
  })).optional()
    .describe(`groups per page, in the order of sort (JSON: default ${REPORT_PAGE.default}; CSV: every group unless limit or offset is given), with the model versions and Pareto by asset of their assets; totals, trend and the other Paretos stay those of the whole scope`),
  offset: queryInt(z.number().int().min(0)).optional().describe('groups skipped before the page (default 0): the previous page\'s page.next'),
}).refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) < Date.parse(q.to), {
  message: 'to must be after from', path: ['to'],
});
export type ReliabilityQuery = z.output<typeof reliabilityQuerySchema>;

export class ReliabilityService {
  readonly #db: () => Db;
  readonly #assumptions: RepairAssumptions;
  readonly #clock: Clock;
  readonly #downtime: DowntimeState;
  readonly #versions = new VersionImpacts();
  readonly #groups: KeptGroups;
  /** The groups of an asset list, kept per list (KeptGroups.members). */
  readonly #members = (assets: readonly AssetInfo[], groupBy: GroupBy): [string, readonly string[]][] => this.#groups.members(assets, groupBy);

  /** @param options what is kept between renders (defaults for production; tests lower the thresholds to reach every kept path) */
  constructor(db: () => Db, assumptions: RepairAssumptions, clock: Clock, options: DowntimeStateOptions & KeptGroupsOptions = {}) {
    this.#db = db;
    this.#assumptions = assumptions;
    this.#clock = clock;
    this.#downtime = new DowntimeState(assumptions, options);
    this.#groups = new KeptGroups(options);
  }

  get assumptions(): RepairAssumptions {
    return this.#assumptions;
  }

  /** The report as an object; it shares arrays kept for later renders (report.ts reportOf): read-only. */
  report(q: ReportScope): ReliabilityReport {
    const db = this.#db();
    return readTransaction(db, () => this.#report(this.scope(q)))();
  }

  // the assets' downtime kept from the report before, derived again where their events changed
  #report({ source, assets, ids, options }: ReturnType<ReliabilityService['scope']>): ReliabilityReport {
    const d = this.#downtime.downtime(ids);
    const layout = reportLayout(assets, d, options, this.#members);
    // only the versions a report shows are read: none without per-asset lists, a page's assets' in a page
    const shown = options.perAsset === 'omit' ? [] : layout.shown === undefined ? ids : [...layout.shown];
    const versions = { versions: source.versions(shown), caughtMissed: source.caughtMissedOf(shown) };
    return reportOf({ assets, ...versions }, d, options, layout);
  }

  /**
   * The response body: the report as JSON, or its groups table as CSV (which needs no model versions,
   * quality windows or trends), read in one transaction with the generation of the data it read
   * (migration 009's report_data). `cacheable` is false when the period came from the clock (no data).
   */
  render(q: ReportScope, format: ReportFormat): RenderedReport {
    const db = this.#db();
    return readTransaction(db, (): RenderedReport => {
      const generation = dataGeneration(db);
      const scope = this.scope(q);
      const body = format === 'json'
        ? this.#json(scope)
        : new TextEncoder().encode(reportCsv(groupsTable(scope.assets, this.#downtime.downtime(scope.ids), scope.options, this.#members)));
      return { generation, body, cacheable: !scope.clockBound };
    })();
  }

  /**
   * The report as JSON: the report without model versions, then the section's entries kept per asset
   * (version-impacts.ts), as JSON.stringify(report()) writes them: `modelVersions` is the report's last key.
   */
  #json({ source, assets, ids, options }: ReturnType<ReliabilityService['scope']>): Uint8Array<ArrayBuffer> {
    const d = this.#downtime.downtime(ids);
    // the kept middles of removed assets go (report-json.ts KeptGroups)
    this.#groups.keepAssets(this.#downtime.allAssets());
    const layout = reportLayout(assets, d, options, this.#members);
    if (options.perAsset === 'omit') return reportJson(assets, d, options, layout, undefined, this.#groups);
    this.#versions.refresh(source);
    return reportJson(assets, d, options, layout, this.#versions.section(assets, layout.shown, d, options), this.#groups);
  }

  /** The assets in scope and the period: the one asked for, else the time their data covers. */
  private scope(q: ReportScope) {
    const source = new ReliabilitySource(this.#db());
    // the assets, their downtime and the time their events cover, kept from the report before where unchanged
    this.#downtime.refresh(source);
    const assets: readonly AssetInfo[] = this.#downtime.assets({ site: q.site, assetClass: q.assetClass, assetId: q.assetId });
    const ids = assetIdsOf(assets);
    const range = q.from !== undefined && q.to !== undefined ? undefined : this.#downtime.dataRange(source, ids);
    const to = q.to !== undefined ? Date.parse(q.to) : (range?.to ?? this.#clock.now());
    const from = q.from !== undefined ? Date.parse(q.from) : Math.min(range?.from ?? to, to);
    const page = q.limit === undefined ? undefined : { offset: q.offset ?? 0, limit: q.limit };
    const options = { from, to: Math.max(to, from), groupBy: q.groupBy, bucket: q.bucket, assumptions: this.#assumptions, perAsset: q.perAsset, page, sort: q.sort };
    return { source, assets, ids, options, clockBound: q.to === undefined && range === undefined };
  }
}

/**
 * The page a request renders: JSON a page by default (REPORT_PAGE.default groups from offset 0); CSV every
 * group unless limit or offset is given (then a page, limit defaulting as for JSON). Both written out,
 * so that a request with and one without `offset=0` are one kept body (report-jobs.ts keys by query).
 */
export function withDefaultPage(q: ReportScope, format: ReportFormat): ReportScope {
  if (format === 'csv' && q.limit === undefined && q.offset === undefined) return q;
  return { ...q, limit: q.limit ?? REPORT_PAGE.default, offset: q.offset ?? 0 };
}

export type ReportScope = Omit<ReliabilityQuery, 'format' | 'perAsset' | 'sort'> & { perAsset?: ReliabilityQuery['perAsset'] | undefined; sort?: ReliabilityQuery['sort'] | undefined };
export type ReportFormat = 'json' | 'csv';

export interface RenderedReport {
  generation: number;
  /** UTF-8, in a buffer of exactly its size of its own (transferable from the worker without a copy; kept bodies hold only their bytes). */
  body: Uint8Array<ArrayBuffer>;
  cacheable: boolean;
}

/** The committed generation of what reports read (bumped by migration 009's triggers). */
export function dataGeneration(db: Db): number {
  return db.prepare('SELECT generation FROM report_data WHERE id = 1').pluck().get() as number;
}

/**
 * `pdmctl reports reliability`: the reliability report (GET /api/v1/reports/reliability) as a table
 * for people, `--json` for scripts, `--csv` for spreadsheets (the server's CSV: every group unless
 * --limit or --offset pages it). JSON is paged by the server (100 groups by default, at most 1000):
 * `--all` walks every page and prints one report of all groups. The table's notes give the page, the
 * period, the assumed repair times and the MTBF/MTTR definitions.
 */
import { PdmError } from '@pdm/protocol';
import type { Figures, ParetoEntry } from '../../reliability/figures.js';
import { REPORT_PAGE, versionOrder, type ReliabilityReport } from '../../reliability/report.js';
import { stringFlag, type CommandContext, type CommandGroup } from '../command.js';


type Query = Record<string, string | undefined>;

const round = (v: number | null, digits = 1): string | null => (v === null ? null : v.toFixed(digits));
const percent = (v: number | null): string | null => (v === null ? null : `${(v * 100).toFixed(2)}%`);
const usage = (message: string): PdmError => new PdmError('REQUEST_INVALID', message);

export const reportsGroup: CommandGroup = {
  name: 'reports',
  summary: 'reliability reports for maintenance planners (MTBF, MTTR, availability, downtime)',
  commands: {
    reliability: {
      summary: 'MTBF, MTTR, availability and downtime per asset, asset class or site (a page of 100 groups; --all for every one)',
      usage: '[--from <iso>] [--to <iso>] [--group-by asset|assetClass|site] [--bucket day|week|month] [--site <s>] [--asset-class <c>] [--asset <id>]'
        + ' [--sort key|availability|downtime] [--limit <n>] [--offset <n> | --all] [--csv]',
      options: {
        from: { type: 'string' }, to: { type: 'string' }, 'group-by': { type: 'string' }, bucket: { type: 'string' },
        site: { type: 'string' }, 'asset-class': { type: 'string' }, asset: { type: 'string' }, csv: { type: 'boolean' },
        sort: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' }, all: { type: 'boolean' },
      },
      async run(ctx) {
        const query: Query = {
          from: stringFlag(ctx, 'from'), to: stringFlag(ctx, 'to'), groupBy: stringFlag(ctx, 'group-by'), bucket: stringFlag(ctx, 'bucket'),
          site: stringFlag(ctx, 'site'), assetClass: stringFlag(ctx, 'asset-class'), assetId: stringFlag(ctx, 'asset'),
          sort: stringFlag(ctx, 'sort'), limit: stringFlag(ctx, 'limit'), offset: stringFlag(ctx, 'offset'),
        };
        const all = ctx.values.all === true;
        if (all && query.offset !== undefined) throw usage('give --all or --offset, not both (--all starts at the first group)');
        if (ctx.values.csv === true) {
          if (ctx.out.json) throw usage('give --csv or --json, not both');
          if (all) throw usage('--csv is every group already (unless --limit or --offset page it): leave out --all');
          // the server's CSV as is (the client hands back a body that is not JSON as its text)
          const csv = await ctx.api.get<string>('/api/v1/reports/reliability', { ...query, format: 'csv' });
          ctx.out.note(csv.replace(/\r\n$/, ''));
          return 0;
        }
        const report = all ? await walk(ctx, query) : await page(ctx, query);
        printReport(ctx, report);
        return 0;
      },
    },
  },
};

const page = (ctx: CommandContext, query: Query): Promise<ReliabilityReport> => ctx.api.get<ReliabilityReport>('/api/v1/reports/reliability', query);

/**
 * Every page, following `page.next`, progress on stderr. The pages after the first ask for the first's
 * period: the default one ends at the latest data, which every metric window of a live fleet moves. A
 * period of no length (a scope without data: the server answers from == to, the clock) is not pinned,
 * as the API refuses to <= from. A controller older than paging answers without `page`: that body is
 * the whole report. When the data changed under the walk (the group count or the totals differ from
 * the first page's), it says so once and walks again from the first page at the same period; a second
 * change fails with CONFLICT (exit 1) rather than print a report that may miss groups or list them twice.
 */
async function walk(ctx: CommandContext, query: Query): Promise<ReliabilityReport> {
  const first = await page(ctx, { ...query, limit: query.limit ?? String(REPORT_PAGE.max) });
  if (first.page === undefined) return first;
  const once = await walkFrom(ctx, first, pinnedTo(query, first));
  if (once.changedAt === undefined) return mergedReport(once.pages);
  ctx.out.progress(`pdmctl: the data changed during the walk (page ${once.changedAt}); walking again from the first page`);
  // at the first walk's period if it had one; else at the one the new first page has, if the scope now has data
  const restart = await page(ctx, { ...pinnedTo(query, first), offset: '0' });
  const again = await walkFrom(ctx, restart, pinnedTo(query, restart));
  if (again.changedAt === undefined) return mergedReport(again.pages);
  throw new PdmError('CONFLICT', `the data changed during the walk twice (the second time at page ${again.changedAt}): groups may be missing or listed twice; run it again, or ask for the CSV (one body of every group)`, {
    context: { groups: first.page.groups, pages: Math.ceil(first.page.groups / first.page.limit) },
  });
}

/** The query of the pages after `first`: its page size and, if it has length, its period. */
const pinnedTo = (query: Query, first: ReliabilityReport): Query =>
  ({ ...query, limit: String(first.page!.limit), ...(first.period.hours > 0 ? { from: first.period.from, to: first.period.to } : {}) });

/** The pages from `first` on, at `pinned`, up to the first whose group count or totals differ from first's (changedAt: its number). */
async function walkFrom(ctx: CommandContext, first: ReliabilityReport, pinned: Query): Promise<{ pages: ReliabilityReport[]; changedAt?: number }> {
  const firstPage = first.page!;
  const count = Math.max(1, Math.ceil(firstPage.groups / firstPage.limit));
  ctx.out.progress(`page 1/${count}`);
  const pages = [first];
  for (let next = firstPage.next; next !== undefined; next = pages.at(-1)!.page?.next) {
    const p = await page(ctx, { ...pinned, offset: String(next) });
    pages.push(p);
    ctx.out.progress(`page ${pages.length}/${count}`);
    // the rest of this walk would be read against other data: no use asking for it
    if (p.page?.groups !== firstPage.groups || JSON.stringify(p.totals) !== JSON.stringify(first.totals)) return { pages, changedAt: pages.length };
  }
  return { pages };
}

/**
 * One report of a walk's pages, as the server's JSON of every group would be: the groups in the pages'
 * order, the Pareto by asset in the whole scope's order (each page's entries carry their running share
 * of the whole scope: cumulativeShare orders them) and the model versions in the report's order.
 * `page`: offset 0, groups the number of groups, limit that too but at least 1 (the API never answers a
 * limit below 1, so a script's check of it holds for an empty scope too), no next.
 */
export function mergedReport(pages: readonly ReliabilityReport[]): ReliabilityReport {
  const first = pages[0]!;
  const groups = pages.flatMap((p) => p.groups);
  const byAsset = first.pareto.byAsset === undefined ? undefined : pages.flatMap((p) => p.pareto.byAsset ?? []).sort(paretoOrder);
  const versions = first.modelVersions === undefined ? undefined : pages.flatMap((p) => p.modelVersions ?? []).sort(versionOrder);
  return {
    ...first,
    page: { offset: 0, limit: Math.max(1, groups.length), groups: groups.length },
    groups,
    pareto: { ...first.pareto, ...(byAsset === undefined ? {} : { byAsset }) },
    ...(versions === undefined ? {} : { modelVersions: versions }),
  };
}

// the running share first; equal shares (rounded to 6 digits) as pareto() orders them: hours, largest first, then key.
// An approximation where the entries carry rounded figures: pareto() sorts the unrounded hours, so two entries
// whose running shares and hours both round equal but whose hours differ may come out in key order instead
// (a share difference below 1e-6 of the scope's total: no fleet in the tests or benches reaches it).
const paretoOrder = (a: ParetoEntry, b: ParetoEntry): number => a.cumulativeShare - b.cumulativeShare || b.hours - a.hours || a.key.localeCompare(b.key);

function printReport(ctx: CommandContext, report: ReliabilityReport): void {
  const row = (key: string, f: Figures) => [
    key, f.assets, round(f.operatingHours), f.failures, round(f.mtbfHours), round(f.mttrHours, 2), percent(f.availability),
    round(f.downtimeHours.unplanned), round(f.downtimeHours.planned), round(f.downtimeHours.other), f.maintenance,
  ];
  ctx.out.table(
    [report.groupBy, 'assets', 'operating h', 'failures', 'MTBF h', 'MTTR h', 'availability', 'unplanned h', 'planned h', 'other h', 'maintenance'],
    [...report.groups.map((g) => row(g.key, g)), row('(total)', report.totals)],
    report,
  );
  if (report.page !== undefined) ctx.out.note(pageNote(report.page, report.groups.length));
  ctx.out.note(`period ${report.period.from} to ${report.period.to} (${report.period.hours} h)`);
  ctx.out.note(report.assumptions.statement);
  ctx.out.note(`MTBF: ${report.definitions.mtbfHours}`);
  ctx.out.note(`MTTR: ${report.definitions.mttrHours}`);
}

/** "groups 1-100 of 10000; --all or --offset 100 for more": which groups the table shows, and how to see the rest. */
export function pageNote(page: NonNullable<ReliabilityReport['page']>, shown: number): string {
  const which = shown === 0 ? `no groups at offset ${page.offset} of ${page.groups}` : `groups ${page.offset + 1}-${page.offset + shown} of ${page.groups}`;
  return page.next === undefined ? which : `${which}; --all or --offset ${page.next} for more`;
}

/**
 * `pdmctl reports reliability`: the reliability report (GET /api/v1/reports/reliability) as a table
 * for people, `--json` for scripts (the whole report), `--csv` for spreadsheets (the server's CSV).
 * The table's notes give the period, the assumed repair times and the MTBF/MTTR definitions.
 */
import { PdmError } from '@pdm/protocol';
import { stringFlag, type CommandGroup } from '../command.js';

interface Figures {
  assets: number;
  operatingHours: number;
  failures: number;
  mtbfHours: number | null;
  mttrHours: number | null;
  availability: number | null;
  downtimeHours: { unplanned: number; planned: number; other: number };
  maintenance: number;
}

interface Report {
  period: { from: string; to: string; hours: number };
  groupBy: string;
  definitions: Record<string, string>;
  assumptions: { statement: string };
  totals: Figures;
  groups: (Figures & { key: string })[];
}

const round = (v: number | null, digits = 1): string | null => (v === null ? null : v.toFixed(digits));
const percent = (v: number | null): string | null => (v === null ? null : `${(v * 100).toFixed(2)}%`);

export const reportsGroup: CommandGroup = {
  name: 'reports',
  summary: 'reliability reports for maintenance planners (MTBF, MTTR, availability, downtime)',
  commands: {
    reliability: {
      summary: 'MTBF, MTTR, availability and downtime per asset, asset class or site',
      usage: '[--from <iso>] [--to <iso>] [--group-by asset|assetClass|site] [--bucket day|week|month] [--site <s>] [--asset-class <c>] [--asset <id>] [--csv]',
      options: {
        from: { type: 'string' }, to: { type: 'string' }, 'group-by': { type: 'string' }, bucket: { type: 'string' },
        site: { type: 'string' }, 'asset-class': { type: 'string' }, asset: { type: 'string' }, csv: { type: 'boolean' },
      },
      async run(ctx) {
        const query = {
          from: stringFlag(ctx, 'from'), to: stringFlag(ctx, 'to'), groupBy: stringFlag(ctx, 'group-by'), bucket: stringFlag(ctx, 'bucket'),
          site: stringFlag(ctx, 'site'), assetClass: stringFlag(ctx, 'asset-class'), assetId: stringFlag(ctx, 'asset'),
        };
        if (ctx.values.csv === true) {
          if (ctx.out.json) throw new PdmError('REQUEST_INVALID', 'give --csv or --json, not both');
          // the server's CSV as is (the client hands back a body that is not JSON as its text)
          const csv = await ctx.api.get<string>('/api/v1/reports/reliability', { ...query, format: 'csv' });
          ctx.out.note(csv.replace(/\r\n$/, ''));
          return 0;
        }
        const report = await ctx.api.get<Report>('/api/v1/reports/reliability', query);
        const row = (key: string, f: Figures) => [
          key, f.assets, round(f.operatingHours), f.failures, round(f.mtbfHours), round(f.mttrHours, 2), percent(f.availability),
          round(f.downtimeHours.unplanned), round(f.downtimeHours.planned), round(f.downtimeHours.other), f.maintenance,
        ];
        ctx.out.table(
          [report.groupBy, 'assets', 'operating h', 'failures', 'MTBF h', 'MTTR h', 'availability', 'unplanned h', 'planned h', 'other h', 'maintenance'],
          [...report.groups.map((g) => row(g.key, g)), row('(total)', report.totals)],
          report,
        );
        ctx.out.note(`period ${report.period.from} to ${report.period.to} (${report.period.hours} h)`);
        ctx.out.note(report.assumptions.statement);
        ctx.out.note(`MTBF: ${report.definitions.mtbfHours}`);
        ctx.out.note(`MTTR: ${report.definitions.mttrHours}`);
        return 0;
      },
    },
  },
};

/**
 * The reliability report over the database: resolves the scope (assets by site, class or id) and the
 * period (the one asked for, else the time the data covers), then builds the report.
 */
import { z } from 'zod';
import { nameSchema, timeSchema } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Db } from '../db/database.js';
import type { RepairAssumptions } from './intervals.js';
import { reliabilityReport, type ReliabilityReport } from './report.js';
import { ReliabilitySource } from './source.js';

export const reliabilityQuerySchema = z.strictObject({
  from: timeSchema.optional().describe('period start (default: the earliest data of the assets in scope)'),
  to: timeSchema.optional().describe('period end, exclusive (default: the latest data)'),
  groupBy: z.enum(['asset', 'assetClass', 'site']).default('asset'),
  bucket: z.enum(['day', 'week', 'month']).default('week').describe('trend buckets (UTC calendar)'),
  site: nameSchema.optional(),
  assetClass: nameSchema.optional(),
  assetId: nameSchema.optional(),
  format: z.enum(['json', 'csv']).optional().describe('csv: the groups table; also chosen by Accept: text/csv'),
}).refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) < Date.parse(q.to), {
  message: 'to must be after from', path: ['to'],
});
export type ReliabilityQuery = z.output<typeof reliabilityQuerySchema>;

export class ReliabilityService {
  readonly #db: () => Db;
  readonly #assumptions: RepairAssumptions;
  readonly #clock: Clock;

  constructor(db: () => Db, assumptions: RepairAssumptions, clock: Clock) {
    this.#db = db;
    this.#assumptions = assumptions;
    this.#clock = clock;
  }

  get assumptions(): RepairAssumptions {
    return this.#assumptions;
  }

  report(q: Omit<ReliabilityQuery, 'format'>): ReliabilityReport {
    const source = new ReliabilitySource(this.#db());
    const assets = source.assets({ site: q.site, assetClass: q.assetClass, assetId: q.assetId });
    const ids = assets.map((a) => a.assetId);
    const range = source.dataRange(ids);
    const to = q.to !== undefined ? Date.parse(q.to) : (range?.to ?? this.#clock.now());
    const from = q.from !== undefined ? Date.parse(q.from) : Math.min(range?.from ?? to, to);
    return reliabilityReport(
      {
        assets,
        events: source.events(ids),
        versions: source.versions(ids),
        caughtMissed: source.caughtMissedOf(ids),
      },
      { from, to: Math.max(to, from), groupBy: q.groupBy, bucket: q.bucket, assumptions: this.#assumptions },
    );
  }
}

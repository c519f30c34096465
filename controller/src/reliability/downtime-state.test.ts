/**
 * The downtime kept between reports (downtime-state.ts, migration 010) on a real SQLite file: after
 * every write of a random sequence (device events, late events older than the kept ones, entered events
 * inserted, edited and deleted by hand, devices moved to another asset, class or site), a report of the
 * long-lived service equals byte for byte the same report of a service that derives everything anew,
 * and the long-lived one re-read only the events of the assets that changed; its asset list and the
 * time the data covers equal those ReliabilitySource reads from the database directly.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Database } from '../db/database.js';
import { RecordsRepo } from '../db/records-repo.js';
import { captureLogs } from '../testing/log-capture.js';
import { event, metrics } from '../testing/fixtures.js';
import { testDatabase } from '../testing/test-database.js';
import { ReliabilityService, type ReportFormat, type ReportScope } from './reliability-service.js';
import { DowntimeState } from './downtime-state.js';
import { ReliabilitySource } from './source.js';
import { seededRandom } from '@pdm/models';

const log = captureLogs('silent').log;
const assumptions = { failureHours: 8, maintenanceHours: 2 };
const clock = { now: () => Date.parse('2026-01-01T00:00:00Z') };
const T0 = Date.parse('2015-01-01T00:00:00Z');
const hourIso = (h: number): string => new Date(T0 + h * 3_600_000).toISOString();

let database: Database;

beforeEach(async () => {
  database = await testDatabase({ log });
});
afterEach(async () => {
  vi.restoreAllMocks();
});

/** Integers in [0, n) from a seeded sequence, so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  const next = seededRandom(seed);
  return (n) => Math.floor(next() * n);
}

const REPORTS: [ReportScope, ReportFormat][] = [
  [{ groupBy: 'asset', bucket: 'week' }, 'json'],
  [{ groupBy: 'asset', bucket: 'day', limit: 2, offset: 1 }, 'json'],
  // a third period layout of a report by asset, one more than KeptGroups keeps middles for: renders alternate
  // three layouts, each evicting another's kept middles (report-json.ts; where every render keeps its layout's)
  [{ groupBy: 'asset', bucket: 'month', from: hourIso(0), to: hourIso(2000) }, 'json'],
  // the least available and the most unplanned downtime first: figures of every group before the page
  [{ groupBy: 'asset', bucket: 'week', sort: 'availability', limit: 3 }, 'json'],
  [{ groupBy: 'assetClass', bucket: 'week', sort: 'downtime', limit: 1, offset: 1 }, 'json'],
  [{ groupBy: 'asset', bucket: 'week', sort: 'downtime', limit: 2, offset: 1 }, 'csv'],
  [{ groupBy: 'assetClass', bucket: 'week', perAsset: 'omit' }, 'json'],
  [{ groupBy: 'site', bucket: 'month', from: hourIso(0), to: hourIso(400) }, 'json'],
  // the same period in other buckets: kept sums of the whole period shared by two reports (period-sums.ts)
  [{ groupBy: 'assetClass', bucket: 'day', from: hourIso(0), to: hourIso(400) }, 'json'],
  // the same start, an end that cuts the versions' time short: model-version entries kept per period (version-impacts.ts)
  [{ groupBy: 'assetClass', bucket: 'week', from: hourIso(0), to: hourIso(150) }, 'json'],
  [{ groupBy: 'asset', bucket: 'week' }, 'csv'],
  [{ groupBy: 'site', bucket: 'week', site: 's1' }, 'csv'],
];

describe('DowntimeState', () => {
  it('keeps one asset list per scope, the same array while kept, and drops the least recently used past its scope cap', () => {
    const device = database.handle.prepare(`INSERT INTO devices (device_id, asset_id, asset_class, site, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?, 1, 1)`);
    for (const [k, d] of ['d1', 'd2', 'd3'].entries()) device.run(d, `asset-${d}`, `class-${k % 2}`, `s${k}`);
    const state = new DowntimeState(assumptions, { keptScopes: 2 });
    database.handle.transaction(() => {
      const source = new ReliabilitySource(database.handle);
      state.refresh(source);
      const [a, b, c] = [{}, { site: 's1' }, { assetClass: 'class-0' }];
      const first = state.assets(a);
      expect(Object.isFrozen(first)).toBe(true);
      expect(state.assets(a)).toBe(first);
      const second = state.assets(b);
      expect(state.assets(a)).toBe(first);
      // a third scope past the cap of 2: the least recently used list (b's) is not kept any more, a's is
      expect(state.assets(c)).toEqual(source.assets(c));
      expect(state.assets(a)).toBe(first);
      const again = state.assets(b);
      expect(again).not.toBe(second);
      expect(again).toEqual(source.assets(b));
    })();
  });

  // keptGroupSize 1: every group's sums kept per period (64 in production, more than these 5 assets), so the
  // kept group sums meet the scope lists, KeptGroups.members and the per-asset JSON of the same renders;
  // middlesFromGroups 1: every report by asset keeps its layout's middles (64 groups in production: the
  // defaults' case makes them per render)
  it.each([{ keptGroupSize: undefined, middlesFromGroups: undefined }, { keptGroupSize: 1, middlesFromGroups: 1 }])('gives after every write the reports a service deriving everything anew gives, re-reading only the changed assets (kept group size $keptGroupSize)', ({ keptGroupSize, middlesFromGroups }) => {
    const db = () => database.handle;
    const kept = new ReliabilityService(db, assumptions, clock, { keptGroupSize, middlesFromGroups });
    const records = new RecordsRepo(database.handle);
    const next = random(9);
    // asset-d1 and asset-d01 the natural order cannot tell apart: their model versions sort as one run (version-impacts.ts)
    const devices = ['d1', 'd2', 'd3', 'd4', 'd01'];
    const device = database.handle.prepare(`INSERT INTO devices (device_id, asset_id, asset_class, site, first_seen_at, last_seen_at)
      VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT DO UPDATE SET asset_id = excluded.asset_id, asset_class = excluded.asset_class,
      site = excluded.site, last_seen_at = excluded.last_seen_at`);
    for (const [k, d] of devices.entries()) device.run(d, `asset-${d}`, `class-${k % 2}`, `s${k % 3}`, k);
    let seq = 1;
    let entered = 0;
    for (const d of devices) records.store('metrics', metrics(d, seq++, { assetId: `asset-${d}` }) as never, `m${seq}`, 1000);

    const writes: (() => void)[] = [
      () => {
        // a device event, often older than the asset's latest (a late one), sometimes a repeat of one stored
        const d = devices[next(devices.length)]!;
        const type = (['failure', 'maintenance', 'downtime-start', 'downtime-end'] as const)[next(4)]!;
        const e = event(d, seq++, { assetId: `asset-${d}`, type, at: hourIso(next(300)), component: `comp${next(3)}`,
          ...(type === 'downtime-start' ? { cause: (['unplanned', 'planned', 'other'] as const)[next(3)]! } : {}) });
        records.store('events', e as never, `e${e.seq}`, 1000);
      },
      () => {
        const d = devices[next(devices.length)]!;
        const start = next(300);
        const type = (['failure', 'maintenance', 'downtime'] as const)[next(3)]!;
        database.handle.prepare(`INSERT INTO machine_events_entered (event_id, asset_id, type, start_at, end_at, cause, component, source,
          entered_at, entered_by) VALUES (?, ?, ?, ?, ?, ?, ?, 'operator', 1, 'test')`).run(`ev-${entered++}`, `asset-${d}`, type,
          hourIso(start), type === 'downtime' || next(2) === 0 ? hourIso(start + 1 + next(20)) : null,
          type === 'downtime' ? 'planned' : null, `comp${next(3)}`);
      },
      () => database.handle.prepare(`UPDATE machine_events_entered SET end_at = ?, asset_id = ? WHERE event_id = ?`)
        .run(hourIso(310 + next(10)), `asset-${devices[next(devices.length)]}`, `ev-${next(entered + 1)}`),
      () => database.handle.prepare('DELETE FROM machine_events_entered WHERE event_id = ?').run(`ev-${next(entered + 1)}`),
      () => {
        // a device moved to another asset (two devices on one asset), class or site
        const d = devices[next(devices.length)]!;
        device.run(d, `asset-${devices[next(devices.length)]}`, `class-${next(3)}`, `s${next(3)}`, 100 + seq++);
      },
      () => records.store('metrics', metrics(devices[next(devices.length)]!, seq++) as never, `m${seq}`, 1000),
      () => {
        // a metric window of another model version, late or after the data's end (the default period moves)
        const d = devices[next(devices.length)]!;
        const start = next(2) === 0 ? next(300) : 300 + seq;
        const version = ['1.0.0', '1.1.0', '2.0.0'][next(3)]!;
        records.store('metrics', metrics(d, seq++, { assetId: `asset-${d}`, windowStart: hourIso(start), windowEnd: hourIso(start + 1),
          model: { name: 'azure-pdm-failure-24h', version } }) as never, `m${seq}`, 1000);
      },
      () => {
        // a quality window that caught or missed failures (the report's caught and missed), some of no model version that ran
        const d = devices[next(devices.length)]!;
        const start = next(320);
        database.handle.prepare(`INSERT INTO quality_windows (device_id, seq, asset_id, model_name, model_version, role, window_start,
          window_end, horizon_hours, tp, fp, tn, fn, caught, missed, false_alarms, lead_hours) VALUES (?, ?, ?, 'azure-pdm-failure-24h', ?,
          'active', ?, ?, 24, 0, 0, 0, 0, ?, ?, 0, '[]')`).run(d, seq++, `asset-${d}`, ['1.0.0', '1.0.0', '1.1.0', '9.9.9'][next(4)]!, hourIso(start),
          hourIso(start + 1), next(3), next(2));
      },
      // now and then one deleted by hand
      () => next(3) === 0 && database.handle.prepare('DELETE FROM quality_windows WHERE seq = (SELECT seq FROM quality_windows ORDER BY seq LIMIT 1 OFFSET ?)').run(next(3)),
    ];

    const state = new DowntimeState(assumptions, { keptGroupSize });
    const read = vi.spyOn(ReliabilitySource.prototype, 'events');
    const renderAll = (service: ReliabilityService) => REPORTS.map(([q, format]) => new TextDecoder().decode(service.render(q, format).body));
    expect(renderAll(kept)).toEqual(renderAll(new ReliabilityService(db, assumptions, clock)));
    const seen = { versions: new Set<string>(), caughtOrMissed: false };
    for (let step = 0; step < 80; step++) {
      writes[next(writes.length)]!();
      read.mockClear();
      const incremental = renderAll(kept);
      // at most one re-read for the long-lived service, of at most the two assets one write touches
      const reads = read.mock.calls.map(([ids]) => ids);
      expect(reads.length).toBeLessThanOrEqual(1);
      for (const ids of reads) expect(ids?.length).toBeLessThanOrEqual(2);
      const fresh = new ReliabilityService(db, assumptions, clock);
      expect(incremental).toEqual(renderAll(fresh));
      // the JSON assembled from kept model-version entries is the JSON of the whole report object
      for (const [k, [q, format]] of REPORTS.entries()) if (format === 'json') expect(incremental[k]).toBe(JSON.stringify(fresh.report(q)));
      for (const v of (JSON.parse(incremental[0]!) as { modelVersions: { version: string; caught: number; missed: number }[] }).modelVersions) {
        seen.versions.add(v.version);
        seen.caughtOrMissed ||= v.caught + v.missed > 0;
      }
      database.handle.transaction(() => {
        const source = new ReliabilitySource(database.handle);
        state.refresh(source);
        for (const filter of [{}, { site: 's1' }, { assetClass: 'class-2' }]) expect(state.assets(filter)).toEqual(source.assets(filter));
        const ids = source.assets().map((a) => a.assetId);
        for (const some of [ids, ids.slice(1, 3), []]) expect(state.dataRange(source, some)).toEqual(source.dataRange(some));
      })();
    }
    expect(JSON.parse(renderAll(kept)[0]!).groups.length).toBeGreaterThan(0);
    // the random writes made entries of several versions, with caught or missed failures
    expect(seen.versions.size).toBeGreaterThan(1);
    expect(seen.caughtOrMissed).toBe(true);
  });
});

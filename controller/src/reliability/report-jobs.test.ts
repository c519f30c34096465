/**
 * Rendered reports kept until the data changes, on a real SQLite file: every kind of data a report
 * reads makes the next request render anew (migration 009's generation triggers), nothing else does;
 * and migration 009's summaries of a database that had data before it equal those kept while storing.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Database } from '../db/database.js';
import { defaultMigrationsDir, migrate } from '../db/migrate.js';
import { RecordsRepo } from '../db/records-repo.js';
import { captureLogs } from '../testing/log-capture.js';
import { event, metrics } from '../testing/fixtures.js';
import { tempDir } from '../testing/temp-dir.js';
import { testDatabase } from '../testing/test-database.js';
import { ReliabilityService } from './reliability-service.js';
import { ReportJobs } from './report-jobs.js';

const log = captureLogs('silent').log;
const assumptions = { failureHours: 8, maintenanceHours: 2 };
const clock = { now: () => Date.parse('2026-01-01T00:00:00Z') };

let database: Database;
let jobs: ReportJobs;

beforeEach(async () => {
  database = await testDatabase({ log });
  const db = () => database.handle;
  jobs = new ReportJobs({ db, service: new ReliabilityService(db, assumptions, clock), assumptions, clock, log });
  await jobs.start();
});
afterEach(async () => {
  await jobs.stop();
});

const store = (kind: 'metrics' | 'events', record: ReturnType<typeof metrics> | ReturnType<typeof event>) =>
  new RecordsRepo(database.handle).store(kind, record as never, `h${record.deviceId}${record.seq}`, 1000);
const device = (id: string, site: string, lastSeen: number) => database.handle.prepare(`INSERT INTO devices (device_id, asset_id, asset_class, site,
  first_seen_at, last_seen_at) VALUES (?, 'asset-1', 'pump', ?, 1, ?) ON CONFLICT DO UPDATE SET site = excluded.site, last_seen_at = excluded.last_seen_at`)
  .run(id, site, lastSeen);
const text = (r: { body: Uint8Array }) => new TextDecoder().decode(r.body);

describe('ReportJobs', () => {
  it('serves a kept report until data a report reads changes, and renders it anew after', async () => {
    device('d1', 's1', 10);
    store('metrics', metrics('d1', 1, { assetId: 'asset-1' }));
    const q = { groupBy: 'site', bucket: 'week' } as const;
    const first = await jobs.render(q, 'json');
    expect(first.cache).toBe('miss');
    expect(await jobs.render({ bucket: 'week', groupBy: 'site' }, 'json')).toMatchObject({ cache: 'hit' });
    expect((await jobs.render(q, 'csv')).cache).toBe('miss');

    // a device seen again that has its asset alone changes nothing a report reads
    device('d1', 's1', 20);
    expect((await jobs.render(q, 'json')).cache).toBe('hit');

    const changes: [string, () => void][] = [
      ['a metric window', () => store('metrics', metrics('d1', 2, { assetId: 'asset-1' }))],
      ['a device event', () => store('events', event('d1', 3, { assetId: 'asset-1' }))],
      ['an entered event', () => database.handle.prepare(`INSERT INTO machine_events_entered (event_id, asset_id, type, start_at, source,
        entered_at, entered_by) VALUES ('e1', 'asset-1', 'maintenance', '2026-01-01T00:30:00.000Z', 'operator', 1, 'test')`).run()],
      ['a device moved to another site', () => device('d1', 's2', 30)],
      ['a second device on the asset, seen last (its site is the asset\'s)', () => device('d2', 's3', 40)],
      ['the asset\'s other device seen again (the last seen gives the site)', () => device('d1', 's2', 50)],
    ];
    let before = text(first);
    for (const [what, change] of changes) {
      change();
      const r = await jobs.render(q, 'json');
      expect({ what, cache: r.cache }).toEqual({ what, cache: 'miss' });
      expect({ what, changed: text(r) !== before }).toEqual({ what, changed: true });
      expect((await jobs.render(q, 'json')).cache).toBe('hit');
      before = text(r);
    }
    expect(JSON.parse(before).groups.map((g: { key: string }) => g.key)).toEqual(['s2']);
  });

  // a kept body pins its whole buffer: the cache counts byteLength, so the buffer must be no larger (a
  // CSV of a few bytes once pinned a chunk of 256 KB)
  it('keeps every body, JSON and CSV, in a buffer of exactly its size', async () => {
    device('d1', 's1', 10);
    store('metrics', metrics('d1', 1, { assetId: 'asset-1' }));
    store('events', event('d1', 2, { assetId: 'asset-1' }));
    const queries = [{ groupBy: 'asset', bucket: 'day' }, { groupBy: 'site', bucket: 'week' }, { groupBy: 'assetClass', bucket: 'month', perAsset: 'omit' }] as const;
    for (const q of queries) {
      for (const format of ['json', 'csv'] as const) {
        for (const cache of ['miss', 'hit']) {
          const r = await jobs.render(q, format);
          expect({ q, format, cache: r.cache }).toEqual({ q, format, cache });
          expect(r.body.byteLength).toBeGreaterThan(0);
          expect({ q, format, offset: r.body.byteOffset, held: r.body.buffer.byteLength }).toEqual({ q, format, offset: 0, held: r.body.byteLength });
        }
      }
    }
  });

  it('keeps the bodies served most recently within its byte budget: a hit counts as use', async () => {
    device('d1', 's1', 10);
    store('metrics', metrics('d1', 1, { assetId: 'asset-1' }));
    const db = () => database.handle;
    const q = (groupBy: 'site' | 'assetClass' | 'asset') => ({ groupBy, bucket: 'week' }) as const;
    // weighed as the cache weighs them: the body's whole buffer
    const sizes = await Promise.all((['site', 'assetClass', 'asset'] as const).map(async (g) => (await jobs.render(q(g), 'json')).body.buffer.byteLength));
    // room for any two of the three bodies, never all three
    const small = new ReportJobs({ db, service: new ReliabilityService(db, assumptions, clock), assumptions, clock, log, cacheBytes: sizes.reduce((a, b) => a + b) - 1 });
    await small.start();
    try {
      expect((await small.render(q('site'), 'json')).cache).toBe('miss');
      expect((await small.render(q('assetClass'), 'json')).cache).toBe('miss');
      expect((await small.render(q('site'), 'json')).cache).toBe('hit');
      // the third body pushes out the least recently used: assetClass, since site was just served
      expect((await small.render(q('asset'), 'json')).cache).toBe('miss');
      expect((await small.render(q('site'), 'json')).cache).toBe('hit');
      expect((await small.render(q('assetClass'), 'json')).cache).toBe('miss');
    } finally {
      await small.stop();
    }
  });

  it('keeps no report whose period came from the clock (no data)', async () => {
    const q = { groupBy: 'asset', bucket: 'day' } as const;
    expect((await jobs.render(q, 'json')).cache).toBe('miss');
    expect((await jobs.render(q, 'json')).cache).toBe('miss');
  });
});

describe('migration 009 on a database with data', () => {
  it('summarises existing windows as storing them after it would', async () => {
    const old = tempDir();
    try {
      // a database at 008 with data, then migrated to 009
      const upTo8 = join(old.path, 'migrations');
      mkdirSync(upTo8);
      for (const f of readdirSync(defaultMigrationsDir).filter((f) => f < '009')) copyFileSync(join(defaultMigrationsDir, f), join(upTo8, f));
      const early = new Database({ dataDir: old.path, migrationsDir: upTo8 }, log);
      await early.start();
      const records = [metrics('d1', 1), metrics('d1', 2, { model: undefined }), metrics('d2', 3), metrics('d1', 4)];
      // stored as a version-8 controller stored them (today's RecordsRepo needs tables of later migrations)
      const window = early.handle.prepare(`INSERT INTO metric_windows (device_id, seq, time, asset_id, window_start, window_end,
        readings, rejected_readings, inferences, inference_errors, alerts, model_name, model_version)
        VALUES (?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?)`);
      for (const r of records) {
        window.run(r.deviceId, r.seq, r.time, r.assetId, r.windowStart, r.windowEnd, r.readings, r.inferences, r.inferenceErrors,
          r.alerts, r.model?.name ?? null, r.model?.version ?? null);
      }
      expect(migrate(early.handle, defaultMigrationsDir, log)).toEqual([9, 10, 11, 12, 13]);
      for (const r of records) store('metrics', r);
      // the spans migration 009 summarises (migration 011's write number n is bookkeeping of its own)
      const spans = (db: Database) => db.handle.prepare('SELECT asset_id, model_name, model_version, first_start, last_end FROM asset_metric_spans ORDER BY 1, 2, 3').all();
      expect(spans(early)).toEqual(spans(database));
      expect(spans(database)).toHaveLength(3);
      await early.stop();
    } finally {
      old.remove();
    }
  });
});

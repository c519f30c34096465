/**
 * Migrations that change how existing data is kept, each checked against the database as the version
 * before it left it:
 * - 012 moves the per-prediction rows of a database at version 11 into prediction_batches: every reader
 *   answers after it as the old readers (their SQL as it was) answered before.
 * - 013 merges the twin device triggers of 009 and 010: the report generations move as before.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EvidenceQuery } from '../rollouts/evidence.js';
import { QualityRepo } from '../quality/quality-repo.js';
import { captureLogs } from '../testing/log-capture.js';
import { tempDir } from '../testing/temp-dir.js';
import { currentVersion, defaultMigrationsDir, migrate, readMigrations } from './migrate.js';
import { RecordsQuery } from './records-query.js';

const dirs: { remove: () => void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
const { log } = captureLogs('silent');

/** A folder holding migrations 001..`upTo` only, as a controller of that version shipped them. */
function migrationsUpTo(upTo: number): string {
  const d = tempDir();
  dirs.push(d);
  const dir = join(d.path, 'migrations');
  mkdirSync(dir);
  for (const m of readMigrations(defaultMigrationsDir).filter((m) => m.version <= upTo)) {
    const file = `${String(m.version).padStart(3, '0')}_${m.name}.sql`;
    copyFileSync(join(defaultMigrationsDir, file), join(dir, file));
  }
  return dir;
}

interface OldBatch {
  deviceId: string;
  seq: number;
  role: 'active' | 'shadow';
  version: string;
  horizonHours: number | null;
  points: { t: string; score: number; alert: boolean }[];
}

const time = fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
// -0 is left out: SQLite's REAL column kept it as 0 already before the migration
const score = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
  // values whose shortest text needs 17 significant digits, and the ends of the double range
  fc.constantFrom(1 / 3, 0.1 + 0.2, 2 / 3 - 1e-17, 5e-324, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE,
    2 ** 53 + 2, 0.30000000000000004, 123456789.12345679),
);
const batches = fc.uniqueArray(fc.record({
  deviceId: fc.constantFrom('d1', 'd2', 'd3'),
  seq: fc.integer({ min: 1, max: 50 }),
  role: fc.constantFrom('active' as const, 'shadow' as const),
  version: fc.constantFrom('1.0.0', '2.0.0'),
  horizonHours: fc.option(fc.constantFrom(24, 0.5), { nil: null }),
  points: fc.array(fc.record({ t: fc.oneof(time, fc.constant('2026-01-01T02:00:00+02:00')), score, alert: fc.boolean() }), { minLength: 1, maxLength: 12 }),
}), { selector: (b) => `${b.deviceId}/${b.seq}`, minLength: 1, maxLength: 25 });

/** What the readers of version 11 answered (their SQL as it was in records-query.ts, evidence.ts and quality-repo.ts). */
function oldAnswers(db: BetterSqlite3.Database) {
  const newest = (d: string, limit: number) => (db.prepare('SELECT * FROM predictions WHERE device_id = ? ORDER BY seq DESC, idx DESC LIMIT ?')
    .all(d, limit) as Record<string, unknown>[]).map((r) => ({
    seq: r.seq, idx: r.idx, t: r.t, score: r.score, alert: r.alert === 1, threshold: r.threshold, horizonHours: r.horizon_hours,
    model: { name: r.model_name, version: r.model_version }, role: r.role, assetId: r.asset_id,
  }));
  // 7: the newest predictions, across batch boundaries; 1000: every one stored (a sample holds at most 300)
  return {
    latest7: ['d1', 'd2', 'd3'].map((d) => newest(d, 7)),
    latest1000: ['d1', 'd2', 'd3'].map((d) => newest(d, 1000)),
    rows: ['d1', 'd2', 'd3'].map((d) => db.prepare('SELECT COUNT(*) FROM predictions WHERE device_id = ?').pluck().get(d)),
    evidence: ['1.0.0', '2.0.0'].flatMap((v) => ['active', 'shadow'].map((role) => db.prepare(`SELECT COUNT(*) AS rows,
      COALESCE(SUM(alert), 0) AS alerts FROM predictions WHERE model_name = 'm' AND model_version = ? AND role = ?
      AND device_id IN (SELECT value FROM json_each(?))`).get(v, role, JSON.stringify(['d1', 'd3'])))),
    known: ['1.0.0', '2.0.0', '3.0.0'].map((v) => db.prepare("SELECT EXISTS (SELECT 1 FROM predictions WHERE model_name = 'm' AND model_version = ?)").pluck().get(v) === 1),
  };
}

function newAnswers(db: BetterSqlite3.Database) {
  const records = new RecordsQuery(db);
  const evidence = new EvidenceQuery(db);
  const quality = new QualityRepo(db);
  return {
    latest7: ['d1', 'd2', 'd3'].map((d) => records.predictions(d, 7)),
    latest1000: ['d1', 'd2', 'd3'].map((d) => records.predictions(d, 1000)),
    rows: ['d1', 'd2', 'd3'].map((d) => records.storedCounts(d).predictionRows),
    evidence: ['1.0.0', '2.0.0'].flatMap((v) => (['active', 'shadow'] as const).map((role) => evidence.alerts({ name: 'm', version: v }, role, ['d1', 'd3']))),
    known: ['1.0.0', '2.0.0', '3.0.0'].map((v) => quality.known('m', v)),
  };
}

describe('migration 012 (prediction_batches)', () => {
  it('moves every stored prediction into its batch row: the readers answer as before the upgrade', () => {
    fc.assert(fc.property(batches, (sample) => {
      const db = new BetterSqlite3(':memory:');
      try {
        migrate(db, migrationsUpTo(11), log);
        expect(currentVersion(db)).toBe(11);
        const insert = db.prepare(`INSERT INTO predictions (device_id, seq, idx, asset_id, model_name, model_version, role,
          horizon_hours, threshold, t, score, alert) VALUES (?, ?, ?, ?, 'm', ?, ?, ?, 0.42, ?, ?, ?)`);
        // rows in the reverse of their batch order: the migration must order them by idx itself
        for (const b of sample) {
          for (let idx = b.points.length - 1; idx >= 0; idx -= 1) {
            const p = b.points[idx]!;
            insert.run(b.deviceId, b.seq, idx, `asset-${b.deviceId}`, b.version, b.role, b.horizonHours, p.t, p.score, p.alert ? 1 : 0);
          }
        }
        const before = oldAnswers(db);
        expect(migrate(db, defaultMigrationsDir, log)).toContain(12);
        expect(newAnswers(db)).toEqual(before);
        for (const b of sample) {
          const row = db.prepare('SELECT rows, alerts FROM prediction_batches WHERE device_id = ? AND seq = ?').get(b.deviceId, b.seq);
          expect(row).toEqual({ rows: b.points.length, alerts: b.points.filter((p) => p.alert).length });
        }
        expect(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'predictions'").pluck().get()).toBe(0);
      } finally {
        db.close();
      }
    }), { numRuns: 40 });
  });
});

describe('migration 013 (one set of device triggers)', () => {
  /** Device changes of every kind the triggers look at; returns both generations after each step. */
  function generations(db: BetterSqlite3.Database): [number, number][] {
    const steps = [
      "INSERT INTO devices (device_id, first_seen_at) VALUES ('none', 1)",
      "INSERT INTO devices (device_id, asset_id, asset_class, site, first_seen_at) VALUES ('a1', 'asset-a', 'press', 's1', 1)",
      "UPDATE devices SET last_seen_at = 10 WHERE device_id = 'a1'", // alone on its asset: no change
      "INSERT INTO devices (device_id, asset_id, asset_class, site, first_seen_at) VALUES ('a2', 'asset-a', 'pump', 's2', 1)",
      "UPDATE devices SET last_seen_at = 11 WHERE device_id = 'a1'", // shares its asset: its class and site win
      "UPDATE devices SET last_seen_at = 11 WHERE device_id = 'a1'", // the same time again: no change
      "UPDATE devices SET last_seen_at = 12, state = 'online' WHERE device_id = 'none'",
      "UPDATE devices SET site = 's3' WHERE device_id = 'none'",
      "UPDATE devices SET asset_class = 'mill' WHERE device_id = 'a2'",
      "UPDATE devices SET asset_id = 'asset-b' WHERE device_id = 'a2'",
      "UPDATE devices SET last_seen_at = 13 WHERE device_id = 'a2'", // alone on asset-b now
      "UPDATE devices SET state = 'offline' WHERE device_id = 'a1'", // a column the triggers do not watch
      "DELETE FROM devices WHERE device_id = 'none'",
      "DELETE FROM devices WHERE device_id = 'a2'",
    ];
    const read = db.prepare('SELECT (SELECT generation FROM report_data), (SELECT generation FROM report_assets)').raw();
    return steps.map((sql) => {
      db.exec(sql);
      return read.get() as [number, number];
    });
  }

  it('moves both report generations on the same device changes as the twin triggers of 009 and 010 did', () => {
    const before = new BetterSqlite3(':memory:');
    const after = new BetterSqlite3(':memory:');
    try {
      migrate(before, migrationsUpTo(12), log);
      migrate(after, defaultMigrationsDir, log);
      expect(currentVersion(after)).toBeGreaterThanOrEqual(13);
      const expected = generations(before);
      // the steps above do move them, and not every step does
      expect(new Set(expected.map((g) => g.join())).size).toBeGreaterThan(5);
      expect(expected.at(-1)).not.toEqual(expected.at(-2));
      expect(generations(after)).toEqual(expected);
      const triggers = after.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'devices' ORDER BY name").pluck().all();
      expect(triggers).toEqual(['report_devices_delete', 'report_devices_insert', 'report_devices_update']);
    } finally {
      before.close();
      after.close();
    }
  });
});

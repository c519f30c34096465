/**
 * Quality and drift windows as the devices sent them, one row per record. Rows are written by an
 * ingest listener after the record is stored; `backfill` re-derives any row a crash kept from being
 * written from record_payloads (002), the record of what the device sent, so nothing depends on the
 * listener having run.
 */
import { driftWindowSchema, qualityWindowSchema, type DriftWindow, type ModelRole, type QualityWindow } from '@pdm/protocol';
import { type Db, writeTransaction } from '../db/database.js';
import { statementCache, type Prepare } from '../db/statements.js';

export interface QualityRow {
  deviceId: string;
  assetId: string;
  model: string;
  version: string;
  role: ModelRole;
  windowStart: string;
  windowEnd: string;
  horizonHours: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  caught: number;
  missed: number;
  falseAlarms: number;
  leadHours: number[];
}

export interface DriftRow {
  deviceId: string;
  assetId: string;
  model: string;
  version: string;
  role: ModelRole;
  windowStart: string;
  windowEnd: string;
  n: number;
  scorePsi: number | null;
  maxFeaturePsi: number | null;
  maxFeature: string | null;
  /** Median over the features: robust to the few rolling extremes that sit in two or three bins on any one machine. */
  medianFeaturePsi: number | null;
  features: Record<string, number>;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface WindowFilter {
  model: string;
  version?: string | undefined;
  role?: ModelRole | undefined;
  deviceIds?: readonly string[] | undefined;
  assetIds?: readonly string[] | undefined;
  /** Windows ending after this time (ISO 8601). */
  from?: string | undefined;
  /** Windows starting before this time (ISO 8601). */
  to?: string | undefined;
  /**
   * Windows the controller received at or after this time (epoch ms, the controller's clock). Unlike
   * `from`, which is event time, this holds for replays of old data too: a rollout's evidence is what
   * its devices reported after it began.
   */
  receivedFrom?: number | undefined;
}

export interface VersionKey {
  model: string;
  version: string;
  role: ModelRole;
}

type Row = Record<string, unknown>;

/** The WHERE clause of a window filter on `table` (quality_windows or drift_windows). */
const filterSql = (table: string): string => `model_name = $model AND ($version IS NULL OR model_version = $version) AND ($role IS NULL OR role = $role)
  AND ($devices IS NULL OR device_id IN (SELECT value FROM json_each($devices)))
  AND ($assets IS NULL OR asset_id IN (SELECT value FROM json_each($assets)))
  AND ($from IS NULL OR window_end > $from) AND ($to IS NULL OR window_start < $to)
  AND ($receivedFrom IS NULL OR EXISTS (SELECT 1 FROM records r WHERE r.device_id = ${table}.device_id
    AND r.seq = ${table}.seq AND r.received_at >= $receivedFrom))`;

function filterArgs(f: WindowFilter): Record<string, unknown> {
  return {
    model: f.model, version: f.version ?? null, role: f.role ?? null,
    devices: f.deviceIds === undefined ? null : JSON.stringify(f.deviceIds),
    assets: f.assetIds === undefined ? null : JSON.stringify(f.assetIds),
    from: f.from ?? null, to: f.to ?? null, receivedFrom: f.receivedFrom ?? null,
  };
}

function driftRow(r: Row): DriftRow {
  const features = JSON.parse(r.features as string) as Record<string, number>;
  return {
    deviceId: r.device_id as string, assetId: r.asset_id as string, model: r.model_name as string, version: r.model_version as string,
    role: r.role as ModelRole, windowStart: r.window_start as string, windowEnd: r.window_end as string, n: r.n as number,
    scorePsi: r.score_psi as number | null, maxFeaturePsi: r.max_feature_psi as number | null, maxFeature: r.max_feature as string | null,
    medianFeaturePsi: median(Object.values(features)), features,
  };
}

export class QualityRepo {
  readonly #db: Db;
  /** The store statements run for every quality and drift record (and compile migration 009's triggers): prepared once. */
  readonly #prepared: Prepare;

  constructor(db: Db) {
    this.#db = db;
    this.#prepared = statementCache(db);
  }

  storeQuality(r: QualityWindow): void {
    this.#prepared(`INSERT OR IGNORE INTO quality_windows (device_id, seq, asset_id, model_name, model_version, role, window_start,
      window_end, horizon_hours, tp, fp, tn, fn, caught, missed, false_alarms, lead_hours) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      r.deviceId, r.seq, r.assetId, r.model.name, r.model.version, r.role, r.windowStart, r.windowEnd, r.horizonHours,
      r.confusion.tp, r.confusion.fp, r.confusion.tn, r.confusion.fn, r.events.caught, r.events.missed, r.events.falseAlarms,
      JSON.stringify(r.events.leadHours),
    );
  }

  storeDrift(r: DriftWindow): void {
    let maxFeature: string | null = null;
    let maxPsi: number | null = null;
    for (const [name, value] of Object.entries(r.features)) {
      if (maxPsi === null || value > maxPsi) [maxFeature, maxPsi] = [name, value];
    }
    this.#prepared(`INSERT OR IGNORE INTO drift_windows (device_id, seq, asset_id, model_name, model_version, role, window_start,
      window_end, n, score_psi, max_feature_psi, max_feature, features) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      r.deviceId, r.seq, r.assetId, r.model.name, r.model.version, r.role, r.windowStart, r.windowEnd, r.n, r.score ?? null,
      maxPsi, maxFeature, JSON.stringify(r.features),
    );
  }

  /** Derives the rows of stored quality and drift records that have none yet; returns how many. */
  backfill(): { quality: number; drift: number } {
    const missing = (kind: string, table: string) => this.#db.prepare(`SELECT p.payload FROM record_payloads p
      LEFT JOIN ${table} t ON t.device_id = p.device_id AND t.seq = p.seq WHERE p.kind = ? AND t.device_id IS NULL`).pluck().all(kind) as string[];
    const quality = missing('quality', 'quality_windows');
    const drift = missing('drift', 'drift_windows');
    writeTransaction(this.#db, () => {
      for (const p of quality) this.storeQuality(qualityWindowSchema.parse(JSON.parse(p)));
      for (const p of drift) this.storeDrift(driftWindowSchema.parse(JSON.parse(p)));
    })();
    return { quality: quality.length, drift: drift.length };
  }

  quality(filter: WindowFilter): QualityRow[] {
    const rows = this.#db.prepare(`SELECT * FROM quality_windows WHERE ${filterSql('quality_windows')} ORDER BY window_start, device_id`).all(filterArgs(filter)) as Row[];
    return rows.map((r) => ({
      deviceId: r.device_id as string, assetId: r.asset_id as string, model: r.model_name as string, version: r.model_version as string,
      role: r.role as ModelRole, windowStart: r.window_start as string, windowEnd: r.window_end as string,
      horizonHours: r.horizon_hours as number, tp: r.tp as number, fp: r.fp as number, tn: r.tn as number, fn: r.fn as number,
      caught: r.caught as number, missed: r.missed as number, falseAlarms: r.false_alarms as number,
      leadHours: JSON.parse(r.lead_hours as string) as number[],
    }));
  }

  drift(filter: WindowFilter): DriftRow[] {
    const rows = this.#db.prepare(`SELECT * FROM drift_windows WHERE ${filterSql('drift_windows')} ORDER BY window_start, device_id`).all(filterArgs(filter)) as Row[];
    return rows.map(driftRow);
  }

  /**
   * Drift windows stored after arrival number `after` (0: all), in the order they were stored, and the
   * number of the last one (migration 009's drift_arrivals): the alert round reads each window once.
   */
  driftArrivedAfter(after: number): { last: number; rows: DriftRow[] } {
    const rows = this.#db.prepare(`SELECT a.n AS arrival, d.* FROM drift_arrivals a JOIN drift_windows d ON d.device_id = a.device_id AND d.seq = a.seq
      WHERE a.n > ? ORDER BY a.n`).all(after) as Row[];
    return { last: rows.length === 0 ? after : (rows[rows.length - 1]!.arrival as number), rows: rows.map(driftRow) };
  }

  /** Per model version and role, the sums of its quality windows' confusion counts (migration 009's totals). */
  versionTotals(): (VersionKey & { windows: number; confusion: { tp: number; fp: number; tn: number; fn: number } })[] {
    const rows = this.#db.prepare('SELECT * FROM quality_version_totals ORDER BY model_name, model_version, role').all() as Row[];
    return rows.map((r) => ({
      model: r.model_name as string, version: r.model_version as string, role: r.role as ModelRole, windows: r.windows as number,
      confusion: { tp: r.tp as number, fp: r.fp as number, tn: r.tn as number, fn: r.fn as number },
    }));
  }

  /** Every model version and role with quality or drift windows. */
  versions(model?: string): VersionKey[] {
    return this.#db.prepare(`SELECT DISTINCT model_name AS model, model_version AS version, role FROM (
        SELECT model_name, model_version, role FROM quality_windows UNION SELECT model_name, model_version, role FROM drift_windows)
      WHERE $model IS NULL OR model_name = $model ORDER BY model, version, role`).all({ model: model ?? null }) as VersionKey[];
  }

  /** True when anything at all (predictions, quality or drift) is known of this model version. */
  known(model: string, version: string): boolean {
    const sql = `SELECT EXISTS (SELECT 1 FROM quality_windows WHERE model_name = $m AND model_version = $v)
      OR EXISTS (SELECT 1 FROM drift_windows WHERE model_name = $m AND model_version = $v)
      OR EXISTS (SELECT 1 FROM prediction_batches WHERE model_name = $m AND model_version = $v)`;
    return this.#db.prepare(sql).pluck().get({ m: model, v: version }) === 1;
  }
}

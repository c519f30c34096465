/**
 * Ingest counters, kept in the database so they survive restarts: accepted / stored / duplicate /
 * conflicting messages per topic kind, and invalid payloads per (device, kind, error code). Ingest
 * adds them up in memory and writes the sums once per event-loop turn (see ingest/counters.ts).
 */
import { upKinds, type UpKind } from '@pdm/protocol';
import type { Db } from './database.js';

/** Stored with invalid counts; error texts are capped so a hostile payload cannot bloat the table. */
export const MAX_INVALID_MESSAGE = 300;

export interface KindTotals {
  accepted: number;
  stored: number;
  duplicates: number;
  conflicts: number;
}

export interface InvalidEntry {
  kind: string;
  code: string;
  count: number;
  firstAt: string;
  lastAt: string;
  lastMessage: string;
}

export interface InvalidSummary {
  total: number;
  byCode: Record<string, number>;
  byKind: Record<string, number>;
}

export interface IngestTotals {
  byKind: Record<UpKind, KindTotals>;
  stored: number;
  duplicates: number;
  conflicts: number;
  invalid: InvalidSummary;
  /** Devices with the most invalid payloads ('' = topics that name no valid device). */
  invalidByDevice: { deviceId: string; count: number }[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class IngestStatsRepo {
  readonly #db: Db;
  readonly #accepted;
  readonly #invalid;

  constructor(db: Db) {
    this.#db = db;
    this.#accepted = db.prepare(`INSERT INTO ingest_totals (kind, accepted, stored, duplicates, conflicts)
      VALUES ($kind, $accepted, $stored, $duplicates, $conflicts)
      ON CONFLICT (kind) DO UPDATE SET accepted = accepted + excluded.accepted, stored = stored + excluded.stored,
      duplicates = duplicates + excluded.duplicates, conflicts = conflicts + excluded.conflicts`);
    this.#invalid = db.prepare(`INSERT INTO invalid_payloads (device_id, kind, code, count, first_at, last_at, last_message)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, kind, code) DO UPDATE SET count = count + excluded.count,
      last_at = excluded.last_at, last_message = excluded.last_message`);
  }

  /** Adds to the totals of one kind. */
  addAccepted(kind: UpKind, delta: KindTotals): void {
    this.#accepted.run({ kind, ...delta });
  }

  /** Adds invalid payloads of one (device, kind, code); deviceId '' when the topic names no valid device. */
  addInvalid(deviceId: string, kind: string, code: string, entry: { count: number; firstAt: number; lastAt: number; lastMessage: string }): void {
    this.#invalid.run(deviceId, kind, code, entry.count, entry.firstAt, entry.lastAt, entry.lastMessage.slice(0, MAX_INVALID_MESSAGE));
  }

  totals(): IngestTotals {
    const rows = this.#db.prepare('SELECT kind, accepted, stored, duplicates, conflicts FROM ingest_totals').all() as
      ({ kind: string } & KindTotals)[];
    const byKind = Object.fromEntries(upKinds.map((k) => [k, { accepted: 0, stored: 0, duplicates: 0, conflicts: 0 }])) as
      Record<UpKind, KindTotals>;
    for (const { kind, ...t } of rows) if (Object.hasOwn(byKind, kind)) byKind[kind as UpKind] = t;
    const sum = (f: keyof KindTotals) => Object.values(byKind).reduce((n, t) => n + t[f], 0);
    const byDevice = this.#db.prepare(`SELECT device_id AS deviceId, SUM(count) AS count FROM invalid_payloads
      GROUP BY device_id ORDER BY count DESC, device_id LIMIT 100`).all() as { deviceId: string; count: number }[];
    return {
      byKind, stored: sum('stored'), duplicates: sum('duplicates'), conflicts: sum('conflicts'),
      invalid: this.#summary(this.#entries()), invalidByDevice: byDevice,
    };
  }

  /** Invalid payloads whose topic named this device. */
  invalidForDevice(deviceId: string): InvalidSummary & { entries: InvalidEntry[] } {
    const entries = this.#entries(deviceId);
    return { ...this.#summary(entries), entries };
  }

  #entries(deviceId?: string): InvalidEntry[] {
    const mine = deviceId === undefined ? '' : 'AND device_id = $deviceId';
    // the last message of the most recent row of each (kind, code), across devices when no device is given
    const rows = this.#db.prepare(`SELECT kind, code, SUM(count) AS count, MIN(first_at) AS firstAt, MAX(last_at) AS lastAt,
      (SELECT x.last_message FROM invalid_payloads x WHERE x.kind = p.kind AND x.code = p.code ${mine.replace('device_id', 'x.device_id')}
        ORDER BY x.last_at DESC LIMIT 1) AS lastMessage
      FROM invalid_payloads p WHERE 1 = 1 ${mine} GROUP BY kind, code ORDER BY kind, code`)
      .all(...(deviceId === undefined ? [] : [{ deviceId }])) as (Omit<InvalidEntry, 'firstAt' | 'lastAt'> & { firstAt: number; lastAt: number })[];
    return rows.map((r) => ({ ...r, firstAt: iso(r.firstAt), lastAt: iso(r.lastAt) }));
  }

  #summary(entries: InvalidEntry[]): InvalidSummary {
    const byCode: Record<string, number> = {};
    const byKind: Record<string, number> = {};
    let total = 0;
    for (const e of entries) {
      byCode[e.code] = (byCode[e.code] ?? 0) + e.count;
      byKind[e.kind] = (byKind[e.kind] ?? 0) + e.count;
      total += e.count;
    }
    return { total, byCode, byKind };
  }
}

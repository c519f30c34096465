/**
 * Devices: identity (asset, class, site), presence (state, last seen) and what they last reported
 * (models, lastSeq, heartbeat counters). The device views join in sequence progress, invalid-payload
 * counts and the last reconciliation, which is what the fleet API shows.
 */
import type { Status } from '@pdm/protocol';
import { restartStateView, type RestartStateView } from '../devices/restart-state.js';
import { readTransaction, type Db } from './database.js';
import type { SeqProgress } from './records-repo.js';
import { statementCache, type Prepare } from './statements.js';

export type DeviceState = 'unknown' | 'online' | 'offline';
export type OfflineReason = 'stopped' | 'lost' | 'timeout';
export type ModelEntry = Status['models'][number];
export type StatusCounters = NonNullable<Status['counters']>;

export interface ReconcileView {
  status: 'unmanaged' | 'in-sync' | 'drift';
  checkedAt: string;
  desired: ModelEntry[] | null;
  missing: ModelEntry[];
  unexpected: ModelEntry[];
}

export interface DeviceView {
  deviceId: string;
  assetId: string | null;
  assetClass: string | null;
  site: string | null;
  state: DeviceState;
  stateReason: string | null;
  stateChangedAt: string | null;
  lastSeenAt: string | null;
  firstSeenAt: string;
  statusTime: string | null;
  bootId: string | null;
  agentVersion: string | null;
  models: ModelEntry[];
  lastSeqReported: number | null;
  seq: SeqProgress & { /** lastSeqReported - contiguous: committed on the device, not yet stored here. */ behind: number | null };
  counters: StatusCounters | null;
  /** Delivery from the device's outbox (issue 4): what arrived here in order, what waits there, what was dropped. */
  delivery: DeliveryView;
  invalidPayloads: number;
  reconcile: ReconcileView | null;
  /** Whether the device stores what a restart resumes from, as of its last heartbeat; null: not reported (an older agent, or no heartbeat yet). */
  restartState: RestartStateView | null;
}

export interface DeliveryView {
  /** Every seq up to this one is stored here: the device's records arrived without a hole up to it. */
  lastDeliveredSeq: number;
  /** The device's outbox at its last heartbeat: committed there, not yet acknowledged by the broker. */
  backlog: {
    depth: number;
    bytes: number;
    byClass: Record<string, number> | null;
    oldestPending: string | null;
  } | null;
  /**
   * Records the device dropped without delivering them, by `<cause>:<class>` (cap-bytes, cap-age,
   * disk-full, corrupt-db), as of its last heartbeat. Evicted seqs never arrive: they stay in `gaps`.
   */
  dropped: { total: number; byReason: Record<string, number> };
  /** Outbox databases the device found corrupt at start and set aside. */
  quarantined: NonNullable<StatusCounters['outboxQuarantined']>;
}

/** A run of seqs, first..last, missing here below the highest seq stored. */
export interface SeqGap {
  first: number;
  last: number;
}

export interface DeviceFilter {
  state?: DeviceState | undefined;
  site?: string | undefined;
  assetClass?: string | undefined;
}

/**
 * Which devices of the filtered list a page holds: at most `limit` by device_id, those after the `after`
 * id when given. A cursor, not an offset: a device added or removed before it does not shift later pages.
 */
export interface DeviceCursor {
  after?: string | undefined;
  limit: number;
}

/** What a fleet dashboard shows of many devices: counts and sums, and the devices with the most records waiting. */
export interface DeviceSummary {
  /** Devices matching the filter. */
  count: number;
  byState: Record<DeviceState, number>;
  /**
   * Sums over the devices: records waiting in their outboxes and records they dropped, at their last heartbeat.
   * No sum of `behind`: it counts records still queued (already in outboxDepth) and, after a drop, an evicted
   * seq that never arrives, so added up it is not a number of records on their way.
   */
  totals: { outboxDepth: number; dropped: number };
  /** Devices running each model version in each role (a device counted once per entry it reports). */
  models: { name: string; version: string; role: string; devices: number }[];
  /** The devices with the most records waiting in their outbox at their last heartbeat, most first, ties by deviceId. */
  top: BacklogEntry[];
  /**
   * Devices whose restart state is frozen at their last heartbeat (RestartStateView): how many, and the `top`
   * with the oldest resume point first (stored time, else frozen since), ties by deviceId. Devices that do
   * not report it are not counted.
   */
  restartState: { frozen: number; longest: FrozenEntry[] };
}

export interface FrozenEntry {
  deviceId: string;
  state: DeviceState;
  /** The device's stateNotStoredSince. */
  notStoredSince: string;
  /** Its stateStoredAt: how old the resume point a restart would take; null: never recorded. */
  storedAt: string | null;
}

export interface BacklogEntry {
  deviceId: string;
  assetId: string | null;
  site: string | null;
  state: DeviceState;
  /** Records waiting in the device's outbox at its last heartbeat: what ranks the device. */
  outboxDepth: number;
  dropped: number;
  /**
   * lastSeq - contiguous seq stored here: seqs not stored in order yet, whether still queued there
   * (also in outboxDepth) or dropped there (never arriving). Shown beside outboxDepth, never added to it.
   */
  behind: number;
}

export interface PresenceRow {
  deviceId: string;
  lastSeenAt: number | null;
  stateChangedAt: number | null;
}

export interface StatusApplied {
  previous: DeviceState;
  state: DeviceState;
}

type Row = Record<string, unknown>;
const GAP_SCAN_ROWS = 100_000;
const iso = (ms: unknown): string | null => (typeof ms === 'number' ? new Date(ms).toISOString() : null);

const FILTER_SQL = `($state IS NULL OR d.state = $state) AND ($site IS NULL OR d.site = $site)
  AND ($assetClass IS NULL OR d.asset_class = $assetClass)`;

// Each filtered device's backlog figures, as the device view computes them (toView, deliveryView), in SQL:
// a summary of 10,000 devices reads these few columns, not every device's whole view.
const BACKLOG_SQL = `SELECT d.device_id AS deviceId, d.asset_id AS assetId, d.site AS site, d.state AS state,
    COALESCE(json_extract(d.counters, '$.outboxDepth'), 0) AS outboxDepth,
    COALESCE((SELECT SUM(j.value) FROM json_each(d.counters, '$.dropped') j), 0) AS dropped,
    CASE WHEN d.last_seq_reported IS NULL THEN 0 ELSE MAX(0, d.last_seq_reported - COALESCE(p.contiguous_seq, 0)) END AS behind
  FROM devices d LEFT JOIN record_progress p ON p.device_id = d.device_id
  WHERE ${FILTER_SQL}`;

// json_extract gives NULL for a JSON null and for a missing key alike: an agent that does not report it is not frozen
const FROZEN_SQL = `SELECT d.device_id AS deviceId, d.state AS state,
    json_extract(d.counters, '$.stateNotStoredSince') AS notStoredSince, json_extract(d.counters, '$.stateStoredAt') AS storedAt
  FROM devices d
  WHERE ${FILTER_SQL} AND json_extract(d.counters, '$.stateNotStoredSince') IS NOT NULL`;

const VIEW_SQL = `SELECT d.*, COALESCE(p.contiguous_seq, 0) AS contiguous, COALESCE(p.max_seq, 0) AS max_seq,
    COALESCE(p.stored, 0) AS stored, COALESCE(i.invalid, 0) AS invalid,
    r.status AS r_status, r.checked_at AS r_checked_at, r.diff AS r_diff
  FROM devices d
  LEFT JOIN record_progress p ON p.device_id = d.device_id
  LEFT JOIN (SELECT device_id, SUM(count) AS invalid FROM invalid_payloads GROUP BY device_id) i ON i.device_id = d.device_id
  LEFT JOIN reconcile_state r ON r.device_id = d.device_id`;

export class DevicesRepo {
  readonly #db: Db;
  readonly #touch;
  readonly #get;
  readonly #contiguous;
  readonly #gaps;
  readonly #scanned;
  /** Statements of the status path (every heartbeat) and of the API's reads, prepared on first use. */
  readonly #sql: Prepare;

  constructor(db: Db) {
    this.#db = db;
    this.#sql = statementCache(db);
    this.#touch = db.prepare(`INSERT INTO devices (device_id, first_seen_at, last_seen_at) VALUES ($id, $at, $live)
      ON CONFLICT (device_id) DO UPDATE SET last_seen_at = COALESCE(MAX(last_seen_at, excluded.last_seen_at), excluded.last_seen_at, last_seen_at)`);
    this.#get = db.prepare('SELECT state FROM devices WHERE device_id = ?').pluck();
    this.#contiguous = db.prepare('SELECT contiguous_seq FROM record_progress WHERE device_id = ?').pluck();
    // the row for the contiguous seq itself (0 when nothing is stored) lets a hole right after it show
    this.#gaps = db.prepare(`WITH s AS (
        SELECT $c AS seq
        UNION ALL
        SELECT seq FROM (SELECT seq FROM records WHERE device_id = $id AND seq > $c ORDER BY seq LIMIT $scan)
      )
      SELECT seq + 1 AS first, next - 1 AS last FROM (SELECT seq, LEAD(seq) OVER (ORDER BY seq) AS next FROM s)
      WHERE next > seq + 1 LIMIT $limit`);
    this.#scanned = db.prepare(`SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE device_id = $id AND seq > $c LIMIT $scan)`).pluck();
  }

  /** Makes sure the device exists; a live message also moves its last-seen time. */
  touch(deviceId: string, at: number, live: boolean): void {
    this.#touch.run({ id: deviceId, at, live: live ? at : null });
  }

  /**
   * Applies a status message. Offline statuses (a clean stop, or the last will composed at connect time)
   * change presence but keep the models reported while online; lastSeq only moves forward.
   */
  applyStatus(status: Status, at: number, live: boolean): StatusApplied {
    this.touch(status.deviceId, at, live);
    const previous = this.#get.get(status.deviceId) as DeviceState;
    // A retained replay restarts the clock: the device gets one full timeout to prove it is alive.
    const changedAt = previous !== status.state || !live ? at : null;
    const online = status.state === 'online';
    this.#sql(`UPDATE devices SET asset_id = $assetId, asset_class = $assetClass, site = $site, state = $state,
        state_reason = $reason, state_changed_at = COALESCE($changedAt, state_changed_at), status_time = $time,
        boot_id = $bootId, agent_version = $agentVersion,
        models = CASE WHEN $online THEN $models ELSE models END,
        last_seq_reported = MAX(COALESCE(last_seq_reported, 0), $lastSeq),
        counters = COALESCE($counters, counters)
      WHERE device_id = $id`).run({
      id: status.deviceId, assetId: status.assetId, assetClass: status.assetClass, site: status.site, state: status.state,
      reason: status.reason ?? null, changedAt, time: status.time, bootId: status.bootId, agentVersion: status.agentVersion,
      online: online ? 1 : 0, models: JSON.stringify(status.models), lastSeq: status.lastSeq,
      counters: status.counters === undefined ? null : JSON.stringify(status.counters),
    });
    return { previous, state: status.state };
  }

  /** Marks an online device offline; false when it was not online. */
  markOffline(deviceId: string, reason: OfflineReason, at: number): boolean {
    const r = this.#sql(`UPDATE devices SET state = 'offline', state_reason = ?, state_changed_at = ?
      WHERE device_id = ? AND state = 'online'`).run(reason, at, deviceId);
    return r.changes > 0;
  }

  online(): PresenceRow[] {
    return this.#db.prepare(`SELECT device_id AS deviceId, last_seen_at AS lastSeenAt, state_changed_at AS stateChangedAt
      FROM devices WHERE state = 'online'`).all() as PresenceRow[];
  }

  ids(): string[] {
    return this.#db.prepare('SELECT device_id FROM devices ORDER BY device_id').pluck().all() as string[];
  }

  /** The filtered devices by deviceId; with `page`, only those of the page. */
  list(filter: DeviceFilter = {}, page?: DeviceCursor): DeviceView[] {
    const rows = this.#sql(`${VIEW_SQL} WHERE ${FILTER_SQL} AND ($after IS NULL OR d.device_id > $after)
      ORDER BY d.device_id LIMIT $limit`).all({ ...filterParams(filter), after: page?.after ?? null, limit: page?.limit ?? -1 }) as Row[];
    return rows.map(toView);
  }

  /**
   * One page of the filtered devices and how many match (all pages), read in one snapshot. `next` is the
   * page's last deviceId, the `after` of the next page; absent on the last page.
   */
  page(filter: DeviceFilter, page: DeviceCursor): { count: number; devices: DeviceView[]; next?: string } {
    return readTransaction(this.#db, () => {
      const count = this.#sql(`SELECT COUNT(*) FROM devices d WHERE ${FILTER_SQL}`).pluck().get(filterParams(filter)) as number;
      // one row more than the page says whether another page follows
      const devices = this.list(filter, { ...page, limit: page.limit + 1 });
      if (devices.length <= page.limit) return { count, devices };
      devices.length = page.limit;
      return { count, devices, next: devices[page.limit - 1]!.deviceId };
    })();
  }

  /** Counts, outbox and dropped sums, model versions and the `top` devices by outbox depth of the filtered devices, in one read. */
  summary(filter: Omit<DeviceFilter, 'state'>, top: number): DeviceSummary {
    const params = filterParams(filter);
    return readTransaction(this.#db, (): DeviceSummary => {
      const byState: Record<DeviceState, number> = { online: 0, offline: 0, unknown: 0 };
      const totals = { outboxDepth: 0, dropped: 0 };
      let count = 0;
      // the fleet-wide sums of these figures are also gauges: metrics/database-metrics.ts (pdm_fleet_*)
      const states = this.#sql(`SELECT state, COUNT(*) AS devices, SUM(outboxDepth) AS outboxDepth, SUM(dropped) AS dropped
        FROM (${BACKLOG_SQL}) GROUP BY state`).all(params) as ({ state: DeviceState; devices: number } & typeof totals)[];
      for (const r of states) {
        byState[r.state] = r.devices;
        count += r.devices;
        totals.outboxDepth += r.outboxDepth;
        totals.dropped += r.dropped;
      }
      // a fleet runs a few model sets: each distinct models text is parsed once, not once per device
      // (26 -> 3 ms at 10,000 devices on bench:reports' database, 2026-11-27)
      const models = this.#sql(`SELECT json_extract(m.value, '$.name') AS name, json_extract(m.value, '$.version') AS version,
          json_extract(m.value, '$.role') AS role, SUM(g.devices) AS devices
        FROM (SELECT d.models AS models, COUNT(*) AS devices FROM devices d WHERE ${FILTER_SQL} GROUP BY d.models) g, json_each(g.models) m
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`).all(params) as DeviceSummary['models'];
      const most = this.#sql(`SELECT * FROM (${BACKLOG_SQL}) ORDER BY outboxDepth DESC, deviceId LIMIT $top`)
        .all({ ...params, top }) as BacklogEntry[];
      return { count, byState, totals, models, top: most, restartState: this.frozen(params, top) };
    })();
  }

  /** The filtered devices whose restart state is frozen: the count and the `top` frozen longest. */
  private frozen(params: Record<string, string | null>, top: number): DeviceSummary['restartState'] {
    const frozen = this.#sql(`SELECT COUNT(*) FROM (${FROZEN_SQL})`).pluck().get(params) as number;
    // the oldest resume point first: the stored time survives restarts and says how far a restart would
    // replay; frozen since is this process's, and stands in when none was ever stored. julianday, not the
    // text: devices may send their times with other offsets
    const longest = this.#sql(`${FROZEN_SQL} ORDER BY julianday(COALESCE(storedAt, notStoredSince)), deviceId LIMIT $top`)
      .all({ ...params, top }) as FrozenEntry[];
    return { frozen, longest };
  }

  /**
   * Holes in the device's stored seqs above the contiguous prefix, oldest first, at most `limit`. Reads
   * at most GAP_SCAN_ROWS seqs above the prefix, so one device with a long run of records after an old
   * hole cannot make the query slow; `truncated` says when there may be more.
   */
  gaps(deviceId: string, limit: number): { gaps: SeqGap[]; truncated: boolean } {
    const contiguous = (this.#contiguous.get(deviceId) as number | undefined) ?? 0;
    const rows = this.#gaps.all({ id: deviceId, c: contiguous, scan: GAP_SCAN_ROWS, limit: limit + 1 }) as SeqGap[];
    const scanned = this.#scanned.get({ id: deviceId, c: contiguous, scan: GAP_SCAN_ROWS }) as number;
    return { gaps: rows.slice(0, limit), truncated: rows.length > limit || scanned >= GAP_SCAN_ROWS };
  }

  get(deviceId: string): DeviceView | undefined {
    const row = this.#sql(`${VIEW_SQL} WHERE d.device_id = ?`).get(deviceId) as Row | undefined;
    return row === undefined ? undefined : toView(row);
  }
}

function filterParams(filter: DeviceFilter): Record<'state' | 'site' | 'assetClass', string | null> {
  return { state: filter.state ?? null, site: filter.site ?? null, assetClass: filter.assetClass ?? null };
}

function toView(r: Row): DeviceView {
  const contiguous = r.contiguous as number;
  const max = r.max_seq as number;
  const stored = r.stored as number;
  const lastSeq = r.last_seq_reported as number | null;
  const counters = r.counters === null ? null : (JSON.parse(r.counters as string) as StatusCounters);
  return {
    deviceId: r.device_id as string,
    assetId: r.asset_id as string | null,
    assetClass: r.asset_class as string | null,
    site: r.site as string | null,
    state: r.state as DeviceState,
    stateReason: r.state_reason as string | null,
    stateChangedAt: iso(r.state_changed_at),
    lastSeenAt: iso(r.last_seen_at),
    firstSeenAt: iso(r.first_seen_at) ?? '',
    statusTime: r.status_time as string | null,
    bootId: r.boot_id as string | null,
    agentVersion: r.agent_version as string | null,
    models: JSON.parse(r.models as string) as ModelEntry[],
    lastSeqReported: lastSeq,
    seq: { contiguous, max, stored, missing: max - stored, behind: lastSeq === null ? null : Math.max(0, lastSeq - contiguous) },
    counters,
    delivery: deliveryView(contiguous, counters),
    invalidPayloads: r.invalid as number,
    restartState: restartStateView(counters),
    reconcile: r.r_status === null || r.r_status === undefined ? null : {
      status: r.r_status as ReconcileView['status'],
      checkedAt: iso(r.r_checked_at) ?? '',
      ...(JSON.parse(r.r_diff as string) as Pick<ReconcileView, 'desired' | 'missing' | 'unexpected'>),
    },
  };
}

function deliveryView(contiguous: number, counters: StatusCounters | null): DeliveryView {
  const byReason = counters?.dropped ?? {};
  return {
    lastDeliveredSeq: contiguous,
    backlog: counters === null ? null : {
      depth: counters.outboxDepth,
      bytes: counters.outboxBytes,
      byClass: counters.outboxByClass ?? null,
      oldestPending: counters.oldestPending ?? null,
    },
    dropped: { total: Object.values(byReason).reduce((n, c) => n + c, 0), byReason },
    quarantined: counters?.outboxQuarantined ?? [],
  };
}

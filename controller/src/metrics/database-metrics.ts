/**
 * Metrics read from the database at each scrape: the fleet (devices by state, what they hold in their
 * outboxes, what they dropped), ingest totals, and rollouts by state. They count what the database
 * holds, so they survive restarts, and in a cluster every instance shows the same values: aggregate
 * them with max(), not sum().
 *
 * Reads tables owned by other modules (devices, record_progress, ingest_totals, invalid_payloads,
 * rollouts): a change there must be followed here (metrics.test.ts reads them all).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { upKinds } from '@pdm/protocol';
import type { Db } from '../db/database.js';

const DEVICE_STATES = ['unknown', 'online', 'offline'] as const;
/** rollouts.state (migration 003). */
const ROLLOUT_STATES = ['running', 'paused', 'completed', 'aborted', 'rolling-back', 'rolled-back'] as const;

interface Row { key: string; n: number }

// The same per-device figures, filtered and summed by state, are the fleet summary's: db/devices-repo.ts (BACKLOG_SQL).
export function registerDatabaseMetrics(registry: Registry, db: () => Db): void {
  const registers = [registry];
  const rows = (sql: string): Row[] => db().prepare(sql).all() as Row[];
  const one = (sql: string): number => (rows(sql)[0]?.n ?? 0);

  new Gauge({
    name: 'pdm_devices', help: 'Devices known to the controller, by presence state', labelNames: ['state'], registers,
    collect() {
      this.reset();
      for (const state of DEVICE_STATES) this.set({ state }, 0);
      for (const r of rows('SELECT state AS key, COUNT(*) AS n FROM devices GROUP BY state')) this.set({ state: r.key }, r.n);
    },
  });
  new Gauge({
    name: 'pdm_fleet_outbox_records', help: 'Records waiting in the devices\' outboxes, as last reported by their heartbeats', registers,
    collect() { this.set(one("SELECT COALESCE(SUM(json_extract(counters, '$.outboxDepth')), 0) AS n FROM devices")); },
  });
  new Gauge({
    name: 'pdm_fleet_outbox_bytes', help: 'Bytes held in the devices\' outboxes, as last reported', registers,
    collect() { this.set(one("SELECT COALESCE(SUM(json_extract(counters, '$.outboxBytes')), 0) AS n FROM devices")); },
  });
  new Gauge({
    name: 'pdm_fleet_records_behind', help: 'Reported lastSeq minus the contiguous stored seq, summed: records still queued on devices plus everything after a seq a device dropped (a dropped seq never arrives), so not a count of records waiting', registers,
    collect() {
      this.set(one(`SELECT COALESCE(SUM(MAX(0, COALESCE(d.last_seq_reported, 0) - COALESCE(p.contiguous_seq, 0))), 0) AS n
        FROM devices d LEFT JOIN record_progress p ON p.device_id = d.device_id`));
    },
  });
  new Gauge({
    name: 'pdm_fleet_dropped_records', help: 'Records the devices dropped from their outboxes, by reason (sum of the devices\' persistent counters)',
    labelNames: ['reason'], registers,
    collect() {
      this.reset();
      for (const r of rows(`SELECT j.key AS key, SUM(j.value) AS n FROM devices d, json_each(d.counters, '$.dropped') j
        WHERE d.counters IS NOT NULL GROUP BY j.key`)) this.set({ reason: r.key }, r.n);
    },
  });
  new Gauge({
    name: 'pdm_fleet_restart_state_frozen',
    help: 'Devices whose restart state is not being stored (a full disk) at their last heartbeat: a restart replays from an older mark', registers,
    // a JSON null (stored again) and a missing key (an agent that does not report it) both read as NULL
    collect() { this.set(one("SELECT COUNT(*) AS n FROM devices WHERE json_extract(counters, '$.stateNotStoredSince') IS NOT NULL")); },
  });
  registerIngestTotals(registry, rows);
  new Gauge({
    name: 'pdm_rollouts', help: 'Rollouts by state', labelNames: ['state'], registers,
    collect() {
      this.reset();
      for (const state of ROLLOUT_STATES) this.set({ state }, 0);
      for (const r of rows('SELECT state AS key, COUNT(*) AS n FROM rollouts GROUP BY state')) this.set({ state: r.key }, r.n);
    },
  });
}

function registerIngestTotals(registry: Registry, rows: (sql: string) => Row[]): void {
  const registers = [registry];
  const perKind = (name: string, column: string, help: string) => new Counter({
    name, help, labelNames: ['kind'], registers,
    collect() {
      this.reset();
      for (const kind of upKinds) this.inc({ kind }, 0);
      for (const r of rows(`SELECT kind AS key, ${column} AS n FROM ingest_totals`)) this.inc({ kind: r.key }, r.n);
    },
  });
  perKind('pdm_ingest_messages_total', 'accepted', 'Valid upstream messages, by kind');
  perKind('pdm_ingest_records_stored_total', 'stored', 'Records stored for the first time, by kind');
  perKind('pdm_ingest_duplicates_total', 'duplicates', 'Records received again with the same bytes (not stored twice), by kind');
  perKind('pdm_ingest_conflicts_total', 'conflicts', 'Records received again with other bytes for a stored seq (first kept), by kind');
  new Counter({
    name: 'pdm_ingest_invalid_total', help: 'Upstream payloads refused, by error code', labelNames: ['code'], registers,
    collect() {
      this.reset();
      for (const r of rows('SELECT code AS key, SUM(count) AS n FROM invalid_payloads GROUP BY code')) this.inc({ code: r.key }, r.n);
    },
  });
}

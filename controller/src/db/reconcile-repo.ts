/**
 * Desired state per device (what the controller wants it to run; rollouts fill it) and the result of
 * the last comparison with what the device reported.
 */
import type { Db } from './database.js';
import type { ModelEntry, ReconcileView } from './devices-repo.js';
import { statementCache, type Prepare } from './statements.js';

export type ReconcileResult = Omit<ReconcileView, 'checkedAt'>;

export class ReconcileRepo {
  /** Every status a device sends is reconciled: its statements are prepared once. */
  readonly #sql: Prepare;

  constructor(db: Db) {
    this.#sql = statementCache(db);
  }

  desired(deviceId: string): ModelEntry[] | undefined {
    const json = this.#sql('SELECT models FROM desired_state WHERE device_id = ?').pluck().get(deviceId) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as ModelEntry[]);
  }

  setDesired(deviceId: string, models: readonly ModelEntry[], by: string, at: number): void {
    this.#sql(`INSERT INTO desired_state (device_id, models, updated_at, updated_by) VALUES (?, ?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET models = excluded.models, updated_at = excluded.updated_at, updated_by = excluded.updated_by`)
      .run(deviceId, JSON.stringify(models), at, by);
  }

  /** Saves a result; returns true when it differs from the previous one (so callers log changes only). */
  save(deviceId: string, result: ReconcileResult, at: number): boolean {
    const { status, ...diff } = result;
    const diffJson = JSON.stringify(diff);
    const prev = this.#sql('SELECT status, diff FROM reconcile_state WHERE device_id = ?').get(deviceId) as
      { status: string; diff: string } | undefined;
    this.#sql(`INSERT INTO reconcile_state (device_id, checked_at, status, diff) VALUES (?, ?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET checked_at = excluded.checked_at, status = excluded.status, diff = excluded.diff`)
      .run(deviceId, at, status, diffJson);
    return prev === undefined || prev.status !== status || prev.diff !== diffJson;
  }
}

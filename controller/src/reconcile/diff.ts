/** Desired against reported models of one device; pure, so the rules are easy to test. */
import type { ModelEntry } from '../db/devices-repo.js';
import type { ReconcileResult } from '../db/reconcile-repo.js';

const key = (m: ModelEntry): string => `${m.role}\u0000${m.name}\u0000${m.version}`;

/**
 * `desired` undefined means the controller has no wish for this device yet ("unmanaged"); an empty
 * list means it wants no model there.
 */
export function compareModels(desired: readonly ModelEntry[] | undefined, reported: readonly ModelEntry[]): ReconcileResult {
  if (desired === undefined) return { status: 'unmanaged', desired: null, missing: [], unexpected: [] };
  const want = new Set(desired.map(key));
  const have = new Set(reported.map(key));
  const missing = desired.filter((m) => !have.has(key(m)));
  const unexpected = reported.filter((m) => !want.has(key(m)));
  const inSync = missing.length === 0 && unexpected.length === 0;
  return { status: inSync ? 'in-sync' : 'drift', desired: [...desired], missing, unexpected };
}

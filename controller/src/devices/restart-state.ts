/**
 * A device's restart state as the fleet views show it, from its status counters (protocol status:
 * statesNotStored, stateStoredAt, stateNotStoredSince): the snapshots it commits beside its records,
 * which a restart resumes from.
 */
import type { Status } from '@pdm/protocol';

export interface RestartStateView {
  /** Its snapshots find no room (a full disk): the stored resume point does not move, and a restart replays from it. */
  frozen: boolean;
  /** When a commit last stored the resume point with nothing left out (device clock; survives the device's restarts); null: never recorded. */
  storedAt: string | null;
  /** Since when they are left out (device clock); null while stored. */
  notStoredSince: string | null;
  /** Stretches of commits that left them out since the agent started. */
  stretches: number;
}

/** Null for an agent that sends none of the three fields (they came together); a missing one of them reads as its empty value. */
export function restartStateView(counters: Status['counters'] | null): RestartStateView | null {
  if (counters === null || counters === undefined) return null;
  const { statesNotStored, stateStoredAt, stateNotStoredSince } = counters;
  if (statesNotStored === undefined && stateStoredAt === undefined && stateNotStoredSince === undefined) return null;
  const since = stateNotStoredSince ?? null;
  return { frozen: since !== null, storedAt: stateStoredAt ?? null, notStoredSince: since, stretches: statesNotStored ?? 0 };
}

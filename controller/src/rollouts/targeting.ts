/**
 * Which devices a rollout targets, how many each stage takes, what each device should run, and
 * whether it does: pure functions over what devices reported, so the rules are easy to test.
 */
import type { ModelRef, Status } from '@pdm/protocol';
import type { Db } from '../db/database.js';
import { statementCache, type Prepare } from '../db/statements.js';
import type { Baseline } from './rollouts-repo.js';
import type { RolloutTarget, Stage, Want } from './spec.js';

type Reported = Status['models'];
type ModelEntry = Reported[number];

export interface FleetDevice {
  deviceId: string;
  assetClass: string | null;
  site: string | null;
  /** Tags given at enrollment (none for a device that never enrolled, e.g. with deviceAuth none). */
  tags: string[];
  online: boolean;
  models: Reported;
}

/** The lightweight view of the fleet the engine needs (DevicesRepo's views join far more). */
export class FleetQuery {
  // prepared once: the engine asks for every device of a rollout on every tick, and compiling the
  // statement per call was most of the tick's time at 1,000 devices (bench:rollout)
  readonly #sql: Prepare;

  constructor(db: Db) {
    this.#sql = statementCache(db);
  }

  all(): FleetDevice[] {
    return (this.#sql(`${FLEET_SELECT} ORDER BY d.device_id`).all() as Record<string, unknown>[]).map(toFleet);
  }

  get(deviceId: string): FleetDevice | undefined {
    const row = this.#sql(`${FLEET_SELECT} WHERE d.device_id = ?`).get(deviceId) as Record<string, unknown> | undefined;
    return row === undefined ? undefined : toFleet(row);
  }
}

const FLEET_SELECT = `SELECT d.device_id, d.asset_class, d.site, d.state, d.models, c.tags
  FROM devices d LEFT JOIN device_credentials c ON c.device_id = d.device_id`;

function toFleet(r: Record<string, unknown>): FleetDevice {
  return {
    deviceId: r.device_id as string, assetClass: r.asset_class as string | null, site: r.site as string | null,
    tags: r.tags === null ? [] : (JSON.parse(r.tags as string) as string[]),
    online: r.state === 'online', models: JSON.parse(r.models as string) as Reported,
  };
}

export function matchesTarget(target: RolloutTarget, d: Pick<FleetDevice, 'deviceId' | 'assetClass' | 'site'> & { tags?: readonly string[] }): boolean {
  if ('all' in target) return true;
  if ('deviceIds' in target) return target.deviceIds.includes(d.deviceId);
  if (target.assetClasses !== undefined && (d.assetClass === null || !target.assetClasses.includes(d.assetClass))) return false;
  if (target.sites !== undefined && (d.site === null || !target.sites.includes(d.site))) return false;
  if (target.tags !== undefined && !target.tags.some((t) => d.tags?.includes(t) === true)) return false;
  return true;
}

/** Cumulative number of devices a stage covers, out of `total` targeted, never fewer than before. */
export function stageSize(stage: Pick<Stage, 'percent' | 'count'>, total: number, before: number): number {
  const wanted = stage.percent !== undefined ? Math.ceil((stage.percent / 100) * total - 1e-9) : Math.min(stage.count!, total);
  return Math.max(before, Math.min(total, wanted));
}

/** The devices a stage takes in: online ones first (an offline one can only end `unknown`), then by id. */
export function chooseDevices<T extends { deviceId: string; online: boolean }>(pending: readonly T[], k: number): T[] {
  return [...pending].sort((a, b) => Number(b.online) - Number(a.online) || a.deviceId.localeCompare(b.deviceId)).slice(0, Math.max(0, k));
}

/** What the device runs as active, the version a rollback returns it to. */
export function baselineOf(reported: Reported): Baseline | null {
  const active = reported.find((m) => m.role === 'active');
  return active === undefined ? null : { name: active.name, version: active.version, ...(active.mode === undefined ? {} : { mode: active.mode }) };
}

/** The desired models of a device, as the reconciler compares them (name, version, role). */
export function desiredModels(want: Want, candidate: ModelRef, mode: string, baseline: Baseline | null): ModelEntry[] {
  const active = baseline === null ? [] : [{ name: baseline.name, version: baseline.version, role: 'active' as const }];
  if (want === 'baseline') return active;
  if (mode === 'shadow') return [...active, { ...candidate, role: 'shadow' }];
  return [{ ...candidate, role: 'active' }];
}

/** Does the device run what the rollout wants there? (A trial counts: the device decides its outcome.) */
export function inSync(want: Want, reported: Reported, candidate: ModelRef, mode: string, baseline: Baseline | null): boolean {
  const has = (name: string, version: string, role: 'active' | 'shadow') => reported.some((m) => m.name === name && m.version === version && m.role === role);
  if (want === 'pending') return true;
  if (want === 'candidate') return has(candidate.name, candidate.version, mode === 'shadow' ? 'shadow' : 'active');
  if (baseline === null) return !has(candidate.name, candidate.version, 'active') && !has(candidate.name, candidate.version, 'shadow');
  const shadowCandidate = has(candidate.name, candidate.version, 'shadow') && !(baseline.version === candidate.version);
  return has(baseline.name, baseline.version, 'active') && !shadowCandidate;
}

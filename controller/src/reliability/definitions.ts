/**
 * The definitions every reliability report carries in its body (and docs/metrics.md repeats), so a
 * planner reading a number knows which of the competing definitions it follows (FIELD.md).
 */
import type { RepairAssumptions } from './intervals.js';

export const RELIABILITY_DEFINITIONS = {
  calendarHours: 'hours in the report period, times the number of assets in the group; every asset in scope is taken to be in service for the whole period',
  downtime: 'union of each asset\'s downtime intervals; where intervals overlap, the time counts once, with the cause of highest priority (unplanned, planned, other)',
  unplannedDowntimeHours: 'downtime caused by failures (from the failure until the asset is back in service) and downtime entered with cause unplanned',
  plannedDowntimeHours: 'downtime for maintenance and downtime entered with cause planned; a maintenance at the same time and component as a failure is that failure\'s corrective repair, counted as unplanned',
  otherDowntimeHours: 'downtime entered with cause other (external: no orders, no power, ...); excluded from availability, as IEC 60050-192 excludes externally disabled time',
  operatingHours: 'calendar hours minus all downtime (unplanned, planned, other)',
  failures: 'failure events whose time is in the period (each failure record counts, also several components failing at once)',
  mtbfHours: 'MTBF, SMRP 3.5.1: operating hours / number of failures; null without failures. Planned work is not a failure',
  mttrHours: 'MTTR, SMRP 3.5.2: total repair time / number of repairs, over the failures in the period; the clock starts when the asset stops (the failure time) and stops when it is back in service (the entered end, else the assumed repair time)',
  availability: 'operating hours / (operating hours + unplanned + planned downtime hours)',
  maintenance: 'maintenance events in the period that are not a failure\'s corrective repair',
  pareto: 'downtime hours in the period by asset, by cause, and (unplanned only) by failed component; a stretch shared by several components is split evenly; sorted largest first with each entry\'s share and the running share',
  trend: 'the same figures per calendar bucket (UTC day, ISO week from Monday, or month), clipped to the period',
  modelVersions: 'per asset and model version active on it (metric windows of the active model): failures while it ran; caught and missed failures from the device\'s quality windows (role active, windows inside the period); unplanned downtime in the period before the version became active and from then on, also per 1000 operating hours so periods of different length compare',
} as const;

export function assumptionsStatement(a: RepairAssumptions): string {
  return `Where an event has no end (Azure PdM records none), a failure is assumed to stop the asset for ${a.failureHours} h and a ` +
    `maintenance for ${a.maintenanceHours} h from its recorded time (controller settings repairHoursFailure and repairHoursMaintenance).`;
}

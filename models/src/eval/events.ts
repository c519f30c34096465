/**
 * Event-level scoring for "failure within the horizon" models, the way a maintenance planner counts:
 * a failure is caught when at least one alert fell inside [failure - horizon, failure) on that asset;
 * an alert episode (a run of alerts on consecutive readings of one asset) is a false alarm when none of
 * its alerts fell inside such a window.
 */

export interface ScoredRow {
  assetId: number;
  time: number;
  alert: boolean;
}

export interface EventRef {
  assetId: number;
  time: number;
}

export interface EventScore {
  events: number;
  caught: number;
  /** Hours from the first alert in the window to the failure, per caught event. */
  leadHours: number[];
  episodes: number;
  falseEpisodes: number;
  /** Asset-days covered by the scored rows, to express false alarms as a rate. */
  assetDays: number;
}

export function scoreEvents(
  rows: readonly ScoredRow[],
  events: readonly EventRef[],
  horizonMs: number,
  intervalMs: number,
): EventScore {
  const byAsset = new Map<number, ScoredRow[]>();
  for (const row of rows) byAsset.set(row.assetId, [...(byAsset.get(row.assetId) ?? []), row]);
  for (const list of byAsset.values()) list.sort((a, b) => a.time - b.time);
  const inWindow = (row: ScoredRow): boolean =>
    events.some((e) => e.assetId === row.assetId && row.time >= e.time - horizonMs && row.time < e.time);

  let caught = 0;
  const leadHours: number[] = [];
  for (const e of events) {
    const alerts = (byAsset.get(e.assetId) ?? []).filter((r) => r.alert && r.time >= e.time - horizonMs && r.time < e.time);
    if (alerts.length === 0) continue;
    caught += 1;
    leadHours.push((e.time - alerts[0]!.time) / 3_600_000);
  }

  let episodes = 0;
  let falseEpisodes = 0;
  for (const list of byAsset.values()) {
    let open = false;
    let touchesWindow = false;
    let previous = -Infinity;
    const close = (): void => {
      if (open) {
        episodes += 1;
        if (!touchesWindow) falseEpisodes += 1;
      }
      open = false;
      touchesWindow = false;
    };
    for (const row of list) {
      if (!row.alert || row.time - previous > intervalMs) close();
      if (row.alert) {
        open = true;
        touchesWindow ||= inWindow(row);
      }
      previous = row.time;
    }
    close();
  }
  const assetDays = rows.length * (intervalMs / 86_400_000);
  return { events: events.length, caught, leadHours, episodes, falseEpisodes, assetDays };
}

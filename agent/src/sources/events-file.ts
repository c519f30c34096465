/**
 * Ground truth for a replay: Azure PdM failure and maintenance records become machine events with
 * source "replay", at their data time, for the machine the telemetry filter selects.
 */
import type { EventsFileConfig, RowFilter } from '../config/schema.js';
import type { SourceEvent } from './source.js';
import { columnIndexes, readCsvObjects } from './csv.js';
import { parseEventTime } from './time.js';

const DEFAULT_COMPONENT_COLUMN = { failure: 'failure', maintenance: 'comp' } as const;

export interface LoadedEvents {
  readonly events: SourceEvent[];
  /** Rows whose time could not be read. */
  readonly unreadable: number;
}

export function loadEvents(files: readonly EventsFileConfig[], filter: RowFilter | undefined): LoadedEvents {
  const events: SourceEvent[] = [];
  let unreadable = 0;
  for (const spec of files) {
    const rows = readCsvObjects(spec.file);
    const componentColumn = spec.componentColumn ?? DEFAULT_COMPONENT_COLUMN[spec.type];
    const header = rows.length > 0 ? Object.keys(rows[0]!) : [];
    const needed = [spec.timeColumn, ...(filter === undefined ? [] : [filter.column])];
    if (rows.length > 0) columnIndexes(spec.file, header, needed);
    for (const row of rows) {
      if (filter !== undefined && row[filter.column] !== filter.value) continue;
      const time = parseEventTime(row[spec.timeColumn] ?? '');
      if (time === undefined) {
        unreadable++;
        continue;
      }
      const component = row[componentColumn];
      events.push({ time, type: spec.type, source: 'replay', ...(component ? { component: component.slice(0, 64) } : {}) });
    }
  }
  // stable sort: same-time events keep file order (failures before maintenance when listed so)
  events.sort((a, b) => a.time - b.time);
  return { events, unreadable };
}

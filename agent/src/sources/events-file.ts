/**
 * Ground truth for a replay: Azure PdM failure and maintenance records become machine events with
 * source "replay", at their data time, for the machine the telemetry filter selects.
 */
import type { EventsFileConfig, RowFilter } from '../config/schema.js';
import type { SourceEvent } from './source.js';
import { readTimedRows } from './csv.js';

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
    const componentColumn = spec.componentColumn ?? DEFAULT_COMPONENT_COLUMN[spec.type];
    const timed = readTimedRows(spec.file, spec.timeColumn, filter);
    unreadable += timed.unreadable;
    for (const { time, row } of timed.rows) {
      const component = row[componentColumn];
      events.push({ time, type: spec.type, source: 'replay', ...(component ? { component: component.slice(0, 64) } : {}) });
    }
  }
  // stable sort: same-time events keep file order (failures before maintenance when listed so)
  events.sort((a, b) => a.time - b.time);
  return { events, unreadable };
}

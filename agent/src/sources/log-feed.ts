/**
 * The machine's own log (error and maintenance records) as signals of each reading, by the protocol's
 * LogSignals: the whole log is loaded at start, history before the first reading included, and fed in
 * time order up to each reading's time. Which log signals are wanted follows the model that runs; when
 * a newly deployed model names one not computed so far, the state is rebuilt from the log already fed,
 * so the values are the ones a LogSignals holding that name from the start would give.
 */
import { LogSignals, logSignalOf, type LogEntry } from '@pdm/protocol';
import type { LogFileConfig, RowFilter } from '../config/schema.js';
import { columnIndexes, readCsvObjects } from './csv.js';
import { parseEventTime } from './time.js';

const DEFAULT_CODE_COLUMN = { error: 'errorID', maintenance: 'comp' } as const;
/** The log entry kind that each kind of log signal is computed from. */
const ENTRY_KIND = { 'error-count': 'error', 'hours-since-maintenance': 'maintenance' } as const;

export interface LoadedLog {
  /** Every entry of the configured files, in time order (same-time entries in file order). */
  readonly entries: LogEntry[];
  /** Rows whose time could not be read, or with no code. */
  readonly unreadable: number;
}

export function loadLog(files: readonly LogFileConfig[], sourceFilter: RowFilter | undefined): LoadedLog {
  const entries: LogEntry[] = [];
  let unreadable = 0;
  for (const spec of files) {
    const rows = readCsvObjects(spec.file);
    const filter = spec.filter ?? sourceFilter;
    const codeColumn = spec.codeColumn ?? DEFAULT_CODE_COLUMN[spec.kind];
    if (rows.length > 0) columnIndexes(spec.file, Object.keys(rows[0]!), [spec.timeColumn, codeColumn, ...(filter === undefined ? [] : [filter.column])]);
    for (const row of rows) {
      if (filter !== undefined && row[filter.column] !== filter.value) continue;
      const time = parseEventTime(row[spec.timeColumn] ?? '');
      const code = row[codeColumn] ?? '';
      if (time === undefined || code === '') {
        unreadable++;
        continue;
      }
      entries.push({ time, kind: spec.kind, code });
    }
  }
  entries.sort((a, b) => a.time - b.time);
  return { entries, unreadable };
}

export class LogFeed {
  private signals: LogSignals | undefined;
  private names = new Set<string>();
  /** Entries with index below this were fed (all at or before the last reading). */
  private next = 0;
  private lastReading: number | undefined;

  /** `kinds`: the entry kinds a configured file gives; a log signal of another kind is not provided. */
  constructor(
    private readonly entries: readonly LogEntry[],
    private readonly kinds: ReadonlySet<LogEntry['kind']>,
  ) {}

  /** True when `signal` is a log signal and a configured file gives its kind of entry. */
  provides(signal: string): boolean {
    const parsed = logSignalOf(signal);
    return parsed !== undefined && this.kinds.has(ENTRY_KIND[parsed.kind]);
  }

  /**
   * The values of the provided log signals among `wanted` at a reading's time (readings in time
   * order); a reading with no wanted log signal still advances the log, so a later model starts from
   * the same state.
   */
  valuesAt(time: number, wanted: readonly string[]): Record<string, number | undefined> {
    const names = wanted.filter((s) => this.provides(s));
    if (names.some((n) => !this.names.has(n))) this.rebuild(names);
    for (; this.next < this.entries.length && this.entries[this.next]!.time <= time; this.next++) this.signals?.record(this.entries[this.next]!);
    this.lastReading = time;
    return this.signals?.valuesAt(time) ?? {};
  }

  /** A LogSignals for the old and new names, fed the log up to the last reading as it was then. */
  private rebuild(added: readonly string[]): void {
    this.names = new Set([...this.names, ...added]);
    const signals = new LogSignals([...this.names]);
    for (let i = 0; i < this.next; i++) signals.record(this.entries[i]!);
    // this sets where the next reading's error counts start
    if (this.lastReading !== undefined) signals.valuesAt(this.lastReading);
    this.signals = signals;
  }
}

/**
 * The machine's own log (error and maintenance records) as signals of each reading, by the protocol's
 * LogSignals: the whole log is loaded at start, history before the first reading included, and fed in
 * time order up to each reading's time. Which log signals are wanted follows the model that runs; when
 * a newly deployed model names one not computed so far, the state is rebuilt from the log already fed,
 * so the values are the ones a LogSignals holding that name from the start would give.
 */
import { LogSignals, logSignalOf, type LogEntry } from '@pdm/protocol';
import type { LogFileConfig, RowFilter } from '../config/schema.js';
import { readTimedRows } from './csv.js';

const DEFAULT_CODE_COLUMN = { error: 'errorID', maintenance: 'comp' } as const;
/** The log entry kind that each kind of log signal is computed from. */
const ENTRY_KIND = { 'error-count': 'error', 'hours-since-maintenance': 'maintenance' } as const;

/** Every entry of the configured files, in time order (same-time entries in file order). */
export function loadLog(files: readonly LogFileConfig[], sourceFilter: RowFilter | undefined): { entries: LogEntry[]; unreadable: number } {
  const entries: LogEntry[] = [];
  let unreadable = 0;
  for (const spec of files) {
    const codeColumn = spec.codeColumn ?? DEFAULT_CODE_COLUMN[spec.kind];
    const timed = readTimedRows(spec.file, spec.timeColumn, spec.filter ?? sourceFilter, [codeColumn]);
    // a row without a code cannot be counted under any signal
    unreadable += timed.unreadable;
    for (const { time, row } of timed.rows) {
      const code = row[codeColumn] ?? '';
      if (code === '') unreadable++;
      else entries.push({ time, kind: spec.kind, code });
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
  /** The last `wanted` list whose names are known to be computed. */
  private checked: readonly string[] | undefined;

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
    // the same list comes with every reading until what runs changes: check it once
    if (wanted !== this.checked) {
      const names = wanted.filter((s) => this.provides(s));
      if (names.some((n) => !this.names.has(n))) this.rebuild(names);
      this.checked = wanted;
    }
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

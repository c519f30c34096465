/**
 * Log signals: features a device derives from the machine's own log (error counts, hours since a
 * component's maintenance) beside its sensor signals. Like features.ts, the agent and models/ both use
 * this code, so training and serving count the log the same way.
 */
/**
 * Signals a device derives from the machine's own log rather than from a sensor, named by convention so
 * that a feature spec needs no new field: `errors_<code>` is the number of error entries with that code
 * logged since the previous reading (after it, up to and including this reading's time), and
 * `hours_since_<component>` is the time in hours from the last maintenance of that component (at or
 * before the reading) to the reading. Any other name is a sensor signal.
 */
export type LogSignal = { kind: 'error-count'; code: string } | { kind: 'hours-since-maintenance'; component: string };

const LOG_SIGNAL = /^(errors|hours_since)_(.+)$/;

export function logSignalOf(name: string): LogSignal | undefined {
  const match = LOG_SIGNAL.exec(name);
  if (match === null) return undefined;
  return match[1] === 'errors' ? { kind: 'error-count', code: match[2]! } : { kind: 'hours-since-maintenance', component: match[2]! };
}

/** One entry of a machine's log: an error code or a maintenance (replacement) of a component. */
export interface LogEntry {
  /** Event time in ms since the epoch. */
  readonly time: number;
  readonly kind: 'error' | 'maintenance';
  /** The error code (e.g. `error1`) or the component maintained (e.g. `comp1`). */
  readonly code: string;
}

const HOUR_MS = 3_600_000;

/**
 * The log signals of one machine at each reading. Feed `record` the log in time order, entries up to
 * a reading's time before `valuesAt(readingTime)`. Maintenance before the first reading counts (the
 * last replacement may be months old); errors before it do not, as there is no previous reading to
 * count from. A component never maintained has no value, so the reading is rejected as missing, like
 * an absent sensor value.
 */
export class LogSignals {
  private readonly signals: ReadonlyMap<string, LogSignal>;
  private errors: LogEntry[] = [];
  private readonly lastMaintenance = new Map<string, number>();
  private previousReading: number | undefined;

  constructor(signalNames: readonly string[]) {
    const signals = new Map<string, LogSignal>();
    for (const name of signalNames) {
      const signal = logSignalOf(name);
      if (signal !== undefined) signals.set(name, signal);
    }
    this.signals = signals;
  }

  /** True when the spec reads any log signal (a source must then deliver the machine's log). */
  get needed(): boolean {
    return this.signals.size > 0;
  }

  record(entry: LogEntry): void {
    if (entry.kind === 'error') this.errors.push(entry);
    else this.lastMaintenance.set(entry.code, Math.max(entry.time, this.lastMaintenance.get(entry.code) ?? -Infinity));
  }

  /** The log signals at a reading's time; error counts restart from zero for the next reading. */
  valuesAt(time: number): Record<string, number | undefined> {
    const since = this.previousReading ?? time - 1;
    const values: Record<string, number | undefined> = {};
    for (const [name, signal] of this.signals) {
      if (signal.kind === 'error-count') {
        values[name] = this.errors.filter((e) => e.code === signal.code && e.time > since && e.time <= time).length;
      } else {
        const last = this.lastMaintenance.get(signal.component);
        values[name] = last === undefined ? undefined : (time - last) / HOUR_MS;
      }
    }
    this.errors = this.errors.filter((e) => e.time > time);
    this.previousReading = time;
    return values;
  }
}

/**
 * The reference semantics of a feature spec: how a reading is validated and how windows of accepted
 * readings become the model's input vector. The agent computes features with this code at inference
 * and models/ computes them with the same code at training, so training and serving cannot drift apart.
 */
import type { Aggregation, FeatureSpec, SignalSpec } from './model-card.js';

export const readingRejectReasons = ['missing', 'wrong-type', 'non-finite', 'out-of-range', 'unknown-category'] as const;
export type ReadingRejectReason = (typeof readingRejectReasons)[number];

export type ReadingCheck =
  | { ok: true; values: Record<string, number> }
  | { ok: false; reason: ReadingRejectReason; signal: string };

function checkSignal(signal: SignalSpec, raw: unknown): number | ReadingRejectReason {
  if (raw === undefined || raw === null || raw === '') return 'missing';
  if (signal.categories !== undefined) {
    if (typeof raw !== 'string') return 'wrong-type';
    const index = signal.categories.indexOf(raw);
    return index < 0 ? 'unknown-category' : index;
  }
  let value: number;
  if (typeof raw === 'number') value = raw;
  else if (typeof raw === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(Infinity|NaN)\s*$/.test(raw)) {
    value = Number(raw);
  } else return 'wrong-type';
  if (!Number.isFinite(value)) return 'non-finite';
  if (value < signal.min || value > signal.max) return 'out-of-range';
  return value;
}

/**
 * Checks one reading (a value per signal) against the spec. A reading with any bad signal is rejected
 * as a whole, so the model never sees a window with a hole in it. Numeric strings are accepted (CSV).
 */
export function checkReading(spec: FeatureSpec, raw: Readonly<Record<string, unknown>>): ReadingCheck {
  const values: Record<string, number> = {};
  for (const signal of spec.signals) {
    const result = checkSignal(signal, Object.hasOwn(raw, signal.name) ? raw[signal.name] : undefined);
    if (typeof result === 'string') return { ok: false, reason: result, signal: signal.name };
    values[signal.name] = result;
  }
  return { ok: true, values };
}

/** Aggregates the values of a window. `std` is the sample deviation (0 for one value). */
export function aggregate(values: ArrayLike<number>, agg: Aggregation): number {
  return aggregateRange(values, 0, values.length, agg);
}

/**
 * `aggregate` of values[start .. start + n - 1]. FeatureWindows aggregates its rings in place with it, and
 * `aggregate` is this function on a whole array, so both make the same number from the same values (the same
 * operations in the same order) and training (models/) and serving agree bit for bit.
 */
function aggregateRange(values: ArrayLike<number>, start: number, n: number, agg: Aggregation): number {
  if (n === 0) return Number.NaN;
  const end = start + n;
  switch (agg) {
    case 'last':
      return values[end - 1]!;
    case 'min': {
      let m = Infinity;
      for (let i = start; i < end; i++) m = Math.min(m, values[i]!);
      return m;
    }
    case 'max': {
      let m = -Infinity;
      for (let i = start; i < end; i++) m = Math.max(m, values[i]!);
      return m;
    }
    case 'mean':
      return sum(values, start, end) / n;
    case 'std': {
      if (n < 2) return 0;
      const mean = sum(values, start, end) / n;
      let ss = 0;
      for (let i = start; i < end; i++) ss += (values[i]! - mean) ** 2;
      return Math.sqrt(ss / (n - 1));
    }
    case 'slope': {
      if (n < 2) return 0;
      // least-squares slope against x = 0..n-1
      const xMean = (n - 1) / 2;
      const yMean = sum(values, start, end) / n;
      let num = 0;
      let den = 0;
      for (let i = 0; i < n; i++) {
        num += (i - xMean) * (values[start + i]! - yMean);
        den += (i - xMean) ** 2;
      }
      return num / den;
    }
  }
}

function sum(values: ArrayLike<number>, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i++) s += values[i]!;
  return s;
}

/**
 * Ring buffer of the last `capacity` values of one signal. Every value is stored twice, at `next` and at
 * `next + capacity`, so the last n values always lie side by side in `buf` (ending at next + capacity):
 * a window is aggregated where it lies, with no copy and no wrap-around per element (issue 9: copying each
 * feature's window out per row was a fifth of the agent's per-row cost).
 */
class Ring {
  private readonly buf: Float64Array;
  private next = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.buf = new Float64Array(2 * capacity);
  }

  push(value: number): void {
    this.buf[this.next] = value;
    this.buf[this.next + this.capacity] = value;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.size < this.capacity) this.size++;
  }

  /** `aggregate` of the last `count` values (oldest first), read in place. */
  aggregateLast(count: number, agg: Aggregation): number {
    const n = Math.min(count, this.size);
    return aggregateRange(this.buf, this.next + this.capacity - n, n, agg);
  }

  clear(): void {
    this.next = 0;
    this.size = 0;
  }
}

/**
 * Rolling windows of accepted readings for one asset. `push` accepted readings in time order; once
 * every feature's window is full, `vector()` returns the input row in the spec's feature order.
 */
export class FeatureWindows {
  /** One ring per signal, in the spec's signal order. */
  private readonly rings: readonly { readonly name: string; readonly ring: Ring }[];
  /** For each feature in the spec's order: its signal's ring, window and aggregation. */
  private readonly features: readonly { readonly ring: Ring; readonly window: number; readonly agg: Aggregation }[];
  private readonly warmup: number;

  constructor(spec: FeatureSpec) {
    this.warmup = Math.max(...spec.features.map((f) => f.window));
    const bySignal = new Map<string, Ring>();
    for (const signal of spec.signals) bySignal.set(signal.name, new Ring(this.warmup));
    this.rings = [...bySignal].map(([name, ring]) => ({ name, ring }));
    // featureSpecSchema rejects a feature of an unknown signal, so every lookup finds its ring
    this.features = spec.features.map((f) => ({ ring: bySignal.get(f.signal)!, window: f.window, agg: f.agg }));
  }

  push(values: Readonly<Record<string, number>>): void {
    for (const { name, ring } of this.rings) ring.push(values[name] ?? Number.NaN);
  }

  get ready(): boolean {
    for (const { ring } of this.rings) if (ring.size < this.warmup) return false;
    return true;
  }

  /** Values per row: the spec's feature count. */
  get width(): number {
    return this.features.length;
  }

  /** The feature row, or undefined while the windows are still filling. */
  vector(): Float32Array | undefined {
    if (!this.ready) return undefined;
    const row = new Float32Array(this.features.length);
    this.vectorInto(row, 0);
    return row;
  }

  /**
   * Writes the feature row into out[offset .. offset + width - 1] (e.g. straight into a batch's input
   * tensor) and returns true; returns false and writes nothing while the windows are still filling.
   */
  vectorInto(out: Float32Array, offset: number): boolean {
    if (!this.ready) return false;
    const features = this.features;
    for (let i = 0; i < features.length; i++) {
      const f = features[i]!;
      out[offset + i] = f.ring.aggregateLast(f.window, f.agg);
    }
    return true;
  }

  reset(): void {
    for (const { ring } of this.rings) ring.clear();
  }
}

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

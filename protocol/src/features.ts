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
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? numberOf(raw) : undefined;
  if (value === undefined) return 'wrong-type';
  return valueProblem(signal, value) ?? value;
}

/**
 * Why a value as the feature windows hold it (a number, or a category's index) is one no checked
 * reading yields, or undefined when it is fine: the rule checkReading applies, for values read back
 * from elsewhere (the agent's feature-window snapshot).
 */
export function valueProblem(signal: SignalSpec, value: number): ReadingRejectReason | undefined {
  if (signal.categories !== undefined) return Number.isInteger(value) && value >= 0 && value < signal.categories.length ? undefined : 'unknown-category';
  if (!Number.isFinite(value)) return 'non-finite';
  if (value < signal.min || value > signal.max) return 'out-of-range';
  return undefined;
}

/** A decimal number as CSV writes it, with optional blanks around it, or (signed) Infinity or NaN. */
const NUMBER_STRING = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(Infinity|NaN)\s*$/;

/**
 * The number a string holds when it matches NUMBER_STRING, else undefined; the same accept set as the
 * regex, without running it on the common case (issue 9: a regex per value per reading). When Number()
 * reads a number, the string is a JavaScript StringNumericLiteral, which NUMBER_STRING matches unless it
 * is blank or a hex, binary or octal integer ("0x1f", "0b1", "0o7"). A string that starts with 1-9, a sign
 * or a dot is neither; one that starts with 0 is a non-decimal integer exactly when x, b or o follows.
 * Anything else (leading blanks, Infinity, NaN, not a number) takes the regex. features.test.ts checks
 * the accept set against the regex's.
 */
export function numberOf(raw: string): number | undefined {
  const value = Number(raw);
  const first = raw.charCodeAt(0);
  if (value === value) {
    if ((first >= 49 && first <= 57) || first === 43 || first === 45 || first === 46) return value;
    if (first === 48) {
      const next = raw.charCodeAt(1) | 0x20; // lower case; NaN (no next char) becomes 0x20
      return next === 0x78 || next === 0x62 || next === 0x6f ? undefined : value;
    }
  }
  return NUMBER_STRING.test(raw) ? value : undefined;
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

/**
 * checkReading without an object per reading (issue 9): the values go to out[i] in the spec's signal
 * order, for FeatureWindows.pushValues. Undefined for a good reading, else why it is rejected.
 */
export function checkReadingInto(
  spec: FeatureSpec,
  raw: Readonly<Record<string, unknown>>,
  out: Float64Array,
): { reason: ReadingRejectReason; signal: string } | undefined {
  const signals = spec.signals;
  for (let i = 0; i < signals.length; i++) {
    const signal = signals[i]!;
    const result = checkSignal(signal, Object.hasOwn(raw, signal.name) ? raw[signal.name] : undefined);
    if (typeof result === 'string') return { reason: result, signal: signal.name };
    out[i] = result;
  }
  return undefined;
}

/**
 * Aggregates the values of a window. `std` is the sample deviation (0 for one value). The reference for
 * FeatureWindows' grouped passes, which make the same numbers bit for bit (features.test.ts).
 */
export function aggregate(values: ArrayLike<number>, agg: Aggregation): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  switch (agg) {
    case 'last':
      return values[n - 1]!;
    case 'min': {
      let m = Infinity;
      for (let i = 0; i < n; i++) m = Math.min(m, values[i]!);
      return m;
    }
    case 'max': {
      let m = -Infinity;
      for (let i = 0; i < n; i++) m = Math.max(m, values[i]!);
      return m;
    }
    case 'mean':
      return sum(values) / n;
    case 'std': {
      if (n < 2) return 0;
      const mean = sum(values) / n;
      let ss = 0;
      for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
      return Math.sqrt(ss / (n - 1));
    }
    case 'slope': {
      if (n < 2) return 0;
      // least-squares slope against x = 0..n-1
      const xMean = (n - 1) / 2;
      const yMean = sum(values) / n;
      let num = 0;
      for (let i = 0; i < n; i++) num += (i - xMean) * (values[i]! - yMean);
      return num / slopeDenominator(n);
    }
  }
}

function sum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s;
}

/**
 * Ring buffer of the last `capacity` values of one signal. Every value is stored twice, at `next` and at
 * `next + capacity`, so the last n values always lie side by side in `buf` (ending at next + capacity):
 * a window is aggregated where it lies, with no copy and no wrap-around per element (issue 9: copying each
 * feature's window out per row was a fifth of the agent's per-row cost).
 */
class Ring {
  readonly buf: Float64Array;
  next = 0;
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

  clear(): void {
    this.next = 0;
    this.size = 0;
  }
}

/** Where a feature goes in the row, and how it is made from its window. */
interface Output {
  readonly index: number;
  readonly agg: Aggregation;
}

/**
 * The features of one signal over one window length, aggregated together (issue 9): azure's spec asks
 * mean, std, min, max and slope of the same 24 values, and each walked the window on its own, the sum
 * three times. Here one pass makes the sum, min and max, a second the squared deviations and the slope's
 * numerator. Each accumulator takes the same values in the same order with the same operations as
 * `aggregate`, so every feature is the same number, bit for bit (features.test.ts).
 */
class WindowGroup {
  readonly outputs: Output[] = [];
  private minMax = false;
  private second = false;
  /** The slope's denominator for a full window (depends on n only). */
  private readonly fullDen: number;

  constructor(
    readonly ring: Ring,
    readonly window: number,
  ) {
    this.fullDen = slopeDenominator(window);
  }

  add(output: Output): void {
    this.outputs.push(output);
    if (output.agg === 'min' || output.agg === 'max') this.minMax = true;
    if (output.agg === 'std' || output.agg === 'slope') this.second = true;
  }

  writeInto(out: Float32Array, offset: number): void {
    const { ring, outputs } = this;
    const buf = ring.buf;
    const n = Math.min(this.window, ring.size);
    const start = ring.next + ring.capacity - n;
    const end = start + n;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    if (this.minMax) {
      for (let i = start; i < end; i++) {
        const v = buf[i]!;
        sum += v;
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
    } else {
      for (let i = start; i < end; i++) sum += buf[i]!;
    }
    const mean = sum / n;
    let ss = 0;
    let num = 0;
    if (this.second && n >= 2) {
      const xMean = (n - 1) / 2;
      for (let i = 0; i < n; i++) {
        const d = buf[start + i]! - mean;
        ss += d ** 2;
        num += (i - xMean) * d;
      }
    }
    for (let k = 0; k < outputs.length; k++) {
      const { index, agg } = outputs[k]!;
      out[offset + index] = n === 0 ? Number.NaN : agg === 'last' ? buf[end - 1]! : agg === 'min' ? min : agg === 'max' ? max
        : agg === 'mean' ? mean : n < 2 ? 0 : agg === 'std' ? Math.sqrt(ss / (n - 1)) : num / (n === this.window ? this.fullDen : slopeDenominator(n));
    }
  }
}

/** The least-squares slope's denominator for n values, sum of (i - xMean)^2: one loop for both aggregations. */
function slopeDenominator(n: number): number {
  const xMean = (n - 1) / 2;
  let den = 0;
  for (let i = 0; i < n; i++) den += (i - xMean) ** 2;
  return den;
}

/**
 * Rolling windows of accepted readings for one asset. `push` accepted readings in time order; once
 * every feature's window is full, `vector()` returns the input row in the spec's feature order.
 */
export class FeatureWindows {
  /** One ring per signal, in the spec's signal order. */
  private readonly rings: readonly { readonly name: string; readonly ring: Ring }[];
  /** The features grouped by signal and window length, each group aggregated in one go. */
  private readonly groups: readonly WindowGroup[];
  /** For each ring, the index in the spec's signals whose value it takes (the last of that name, as `push`). */
  private readonly ringSources: readonly number[];
  private readonly featureCount: number;
  /** The ring of each spec signal, in the spec's order (duplicate names share one). */
  private readonly signalRings: readonly Ring[];
  private readonly warmup: number;

  constructor(spec: FeatureSpec) {
    this.warmup = Math.max(...spec.features.map((f) => f.window));
    const bySignal = new Map<string, Ring>();
    for (const signal of spec.signals) bySignal.set(signal.name, new Ring(this.warmup));
    this.rings = [...bySignal].map(([name, ring]) => ({ name, ring }));
    const names = spec.signals.map((s) => s.name);
    this.ringSources = this.rings.map(({ name }) => names.lastIndexOf(name));
    const groups = new Map<string, WindowGroup>();
    spec.features.forEach((f, index) => {
      // featureSpecSchema rejects a feature of an unknown signal, so every lookup finds its ring
      const key = `${f.window} ${f.signal}`;
      const group = groups.get(key) ?? new WindowGroup(bySignal.get(f.signal)!, f.window);
      groups.set(key, group);
      group.add({ index, agg: f.agg });
    });
    this.groups = [...groups.values()];
    this.featureCount = spec.features.length;
    this.signalRings = spec.signals.map((s) => bySignal.get(s.name)!);
  }

  push(values: Readonly<Record<string, number>>): void {
    for (const { name, ring } of this.rings) ring.push(values[name] ?? Number.NaN);
  }

  /** `push` of the values checkReadingInto wrote: one per spec signal, in the spec's order. */
  pushValues(values: ArrayLike<number>): void {
    const { rings, ringSources } = this;
    for (let i = 0; i < rings.length; i++) rings[i]!.ring.push(values[ringSources[i]!]!);
  }

  get ready(): boolean {
    for (const { ring } of this.rings) if (ring.size < this.warmup) return false;
    return true;
  }

  /** Values per row: the spec's feature count. */
  get width(): number {
    return this.featureCount;
  }

  /** The feature row, or undefined while the windows are still filling. */
  vector(): Float32Array | undefined {
    if (!this.ready) return undefined;
    const row = new Float32Array(this.featureCount);
    this.vectorInto(row, 0);
    return row;
  }

  /**
   * Writes the feature row into out[offset .. offset + width - 1] (e.g. straight into a batch's input
   * tensor) and returns true; returns false and writes nothing while the windows are still filling.
   */
  vectorInto(out: Float32Array, offset: number): boolean {
    if (!this.ready) return false;
    const groups = this.groups;
    for (let i = 0; i < groups.length; i++) groups[i]!.writeInto(out, offset);
    return true;
  }

  reset(): void {
    for (const { ring } of this.rings) ring.clear();
  }

  /** Readings the windows still hold (at most the longest window), oldest first. */
  get held(): number {
    return this.rings[0]?.ring.size ?? 0;
  }

  /**
   * The readings the windows still hold, oldest first, each as one value per spec signal (the
   * `pushValues` layout): `pushValues` of each, after `reset`, rebuilds the same windows (an agent's
   * restart does so from a snapshot of this).
   */
  tail(out?: Float64Array, at = 0): Float64Array {
    const rings = this.signalRings;
    const signals = rings.length;
    const held = this.held;
    // `out` (from `at`): a snapshot writes the tail straight into its frame, with no copy between
    const values = out ?? new Float64Array(held * signals);
    for (let j = 0; j < signals; j++) {
      const ring = rings[j]!;
      const start = ring.next + ring.capacity - held;
      for (let i = 0; i < held; i++) values[at + i * signals + j] = ring.buf[start + i]!;
    }
    return values;
  }
}

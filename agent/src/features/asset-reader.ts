/**
 * Turns raw readings of one asset into model input rows with the protocol's reference semantics
 * (checkReading, FeatureWindows), the same code the models were trained with. A bad reading is
 * rejected whole with one reason and never enters a window; a good one yields a row once every
 * feature's window is full.
 */
import { FeatureWindows, checkReadingInto, type FeatureSpec, type ReadingRejectReason } from '@pdm/protocol';
import type { RawReading } from '../sources/source.js';

export type ReaderResult =
  | { readonly ok: false; readonly reason: ReadingRejectReason; readonly signal?: string }
  | { readonly ok: true; readonly time: number; readonly row: Float32Array | undefined };

/** What `acceptInto` did with a reading: rejected it, or took it and (`wrote`) wrote a row. */
export type ReaderOutcome =
  | { readonly ok: false; readonly reason: ReadingRejectReason; readonly signal?: string }
  | { readonly ok: true; readonly wrote: boolean };

// the two outcomes of a good reading, shared: no object per reading (issue 9)
const WROTE: ReaderOutcome = { ok: true, wrote: true };
const TOOK: ReaderOutcome = { ok: true, wrote: false };

export class AssetReader {
  private readonly windows: FeatureWindows;
  /** The checked values of the reading at hand, in the spec's signal order. */
  private readonly values: Float64Array;

  constructor(private readonly spec: FeatureSpec) {
    this.windows = new FeatureWindows(spec);
    this.values = new Float64Array(spec.signals.length);
  }

  /** Values per row. */
  get width(): number {
    return this.windows.width;
  }

  accept(reading: RawReading): ReaderResult {
    const rejected = this.check(reading);
    if (rejected !== undefined) return rejected;
    return { ok: true, time: reading.time, row: this.windows.vector() };
  }

  /** Like `accept`, but writes the row into out[offset .. offset + width - 1] instead of a new array. */
  acceptInto(reading: RawReading, out: Float32Array, offset: number): ReaderOutcome {
    const rejected = this.check(reading);
    if (rejected !== undefined) return rejected;
    return this.windows.vectorInto(out, offset) ? WROTE : TOOK;
  }

  /** The readings the windows still need, oldest first (FeatureWindows.tail), for a snapshot. */
  tail(): Float64Array {
    return this.windows.tail();
  }

  /** How many values `tail` holds (one per signal per reading held). */
  get tailLength(): number {
    return this.windows.held * this.values.length;
  }

  /** `tail` written into `out` from `at` (a snapshot's frame), with no array of its own. */
  tailInto(out: Float64Array, at: number): void {
    this.windows.tail(out, at);
  }

  /**
   * Rebuilds the windows from a `tail` of the same spec (one value per signal per reading, checked
   * ones: window-tail.ts validates a snapshot before it gets here), as if those readings came again.
   */
  restore(tail: Float64Array): void {
    const signals = this.values.length;
    this.windows.reset();
    for (let i = 0; i + signals <= tail.length; i += signals) this.windows.pushValues(tail.subarray(i, i + signals));
  }

  /** Checks the reading and, when good, pushes it into the windows; undefined then, else the rejection. */
  private check(reading: RawReading): { ok: false; reason: ReadingRejectReason; signal: string } | undefined {
    if (reading.timeProblem !== undefined) return { ok: false, reason: reading.timeProblem, signal: '(time)' };
    const rejected = checkReadingInto(this.spec, reading.values, this.values);
    if (rejected !== undefined) return { ok: false, ...rejected };
    this.windows.pushValues(this.values);
    return undefined;
  }
}

/**
 * Turns raw readings of one asset into model input rows with the protocol's reference semantics
 * (checkReading, FeatureWindows), the same code the models were trained with. A bad reading is
 * rejected whole with one reason and never enters a window; a good one yields a row once every
 * feature's window is full.
 */
import { FeatureWindows, checkReading, type FeatureSpec, type ReadingRejectReason } from '@pdm/protocol';
import type { RawReading } from '../sources/source.js';

export type ReaderResult =
  | { readonly ok: false; readonly reason: ReadingRejectReason; readonly signal?: string }
  | { readonly ok: true; readonly time: number; readonly row: Float32Array | undefined };

/** What `acceptInto` did with a reading: rejected it, or took it and (`wrote`) wrote a row. */
export type ReaderOutcome =
  | { readonly ok: false; readonly reason: ReadingRejectReason; readonly signal?: string }
  | { readonly ok: true; readonly time: number; readonly wrote: boolean };

export class AssetReader {
  private readonly windows: FeatureWindows;

  constructor(private readonly spec: FeatureSpec) {
    this.windows = new FeatureWindows(spec);
  }

  /** Values per row. */
  get width(): number {
    return this.windows.width;
  }

  accept(reading: RawReading): ReaderResult {
    const check = this.check(reading);
    if (!check.ok) return check;
    return { ok: true, time: reading.time, row: this.windows.vector() };
  }

  /** Like `accept`, but writes the row into out[offset .. offset + width - 1] instead of a new array. */
  acceptInto(reading: RawReading, out: Float32Array, offset: number): ReaderOutcome {
    const check = this.check(reading);
    if (!check.ok) return check;
    return { ok: true, time: reading.time, wrote: this.windows.vectorInto(out, offset) };
  }

  private check(reading: RawReading): { ok: true } | { ok: false; reason: ReadingRejectReason; signal: string } {
    if (reading.timeProblem !== undefined) return { ok: false, reason: reading.timeProblem, signal: '(time)' };
    const check = checkReading(this.spec, reading.values);
    if (!check.ok) return check;
    this.windows.push(check.values);
    return check;
  }
}

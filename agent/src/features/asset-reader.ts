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

export class AssetReader {
  private readonly windows: FeatureWindows;

  constructor(private readonly spec: FeatureSpec) {
    this.windows = new FeatureWindows(spec);
  }

  accept(reading: RawReading): ReaderResult {
    if (reading.timeProblem !== undefined) return { ok: false, reason: reading.timeProblem, signal: '(time)' };
    const check = checkReading(this.spec, reading.values);
    if (!check.ok) return { ok: false, reason: check.reason, signal: check.signal };
    this.windows.push(check.values);
    return { ok: true, time: reading.time, row: this.windows.vector() };
  }
}

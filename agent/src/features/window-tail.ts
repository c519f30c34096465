/**
 * The feature windows across a restart. Every pipeline commit carries one compact snapshot of the asset's
 * window tail (the readings the windows still need, at most the longest window) and the event time of
 * the last reading in it, replacing the one before, in the outbox transaction of that commit's records
 * (Outbox.commit's `state`). So after a SIGKILL the snapshot describes exactly what is durable: the
 * replay resumes right after its time (replay-position.ts prefers it to its own file, which lags by up
 * to a second) and the windows start from its tail, and no reading is counted twice or lost from a window.
 *
 * A snapshot is used only when the source resumed right after its time and it was taken for the feature
 * spec that runs now (a fingerprint of the signals and features, the same test as a live model switch,
 * slots.ts sameRows). Anything else (unreadable, another source, another spec after a model update,
 * values a reading check would refuse) is logged and ignored: the windows then start empty, as without it.
 *
 * Layout: u32 LE header length, the header as JSON (validated by `headerSchema`; the same bytes for every
 * snapshot of one spec, so built once), blanks up to a multiple of 8 bytes, then float64 LE: the time of
 * the last reading, and the values reading by reading, one per spec signal (FeatureWindows.tail). The
 * values are copied in one go where the machine is little-endian (bench:pipeline, per commit).
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import type { Logger } from 'pino';
import { z } from 'zod';
import { describeIssues, warmupReadings, type FeatureSpec } from '@pdm/protocol';
import type { Outbox, StateWrite } from '../outbox/outbox.js';

/** What the pipeline needs: the tail to start from, and the state write that keeps the current one. */
export interface WindowTailKeeper {
  /**
   * The readings to rebuild `spec`'s windows from (FeatureWindows.tail layout) and the event time of the
   * last of them, or undefined to start empty.
   */
  restore(spec: FeatureSpec): RestoredTail | undefined;
  /** The snapshot of windows of `spec` holding readings through event time `through`, for a commit. */
  snapshot(spec: FeatureSpec, through: number, tail: Float64Array): StateWrite;
}

export interface RestoredTail {
  readonly through: number;
  readonly values: Float64Array;
}

export interface FeatureTailDeps {
  readonly outbox: Pick<Outbox, 'state'>;
  readonly assetId: string;
  /** What is replayed (file and filter): a tail holds only for the same source. */
  readonly source: string;
  /** The event time the source resumed after, or undefined when it started from its first row. */
  readonly resumedAfter: () => number | undefined;
  readonly log: Logger;
}

const headerSchema = z.strictObject({
  schemaVersion: z.literal(1),
  assetId: z.string(),
  source: z.string(),
  /** `fingerprint` of the spec the windows were built for. */
  spec: z.string(),
  signals: z.number().int().positive(),
});
type Header = z.output<typeof headerSchema>;

interface Snapshot {
  readonly header: Header;
  /** Event time (ms) of the last reading the windows took. */
  readonly through: number;
  readonly readings: number;
  readonly values: Float64Array;
}

const MAX_HEADER_BYTES = 64 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';
const fingerprints = new WeakMap<FeatureSpec, string>();

/** The spec's rows in a short string: what `sameRows` compares (signals and features), hashed. */
export function fingerprint(spec: FeatureSpec): string {
  let f = fingerprints.get(spec);
  if (f === undefined) {
    f = createHash('sha256').update(JSON.stringify([spec.signals, spec.features])).digest('hex').slice(0, 16);
    fingerprints.set(spec, f);
  }
  return f;
}

export class FeatureTail implements WindowTailKeeper {
  /** The snapshot read at start; null until then. */
  private stored: Snapshot | undefined | null = null;
  private readonly key: string;
  /** The length, header and padding of the snapshots of one spec. */
  private prefix: { readonly spec: FeatureSpec; readonly bytes: Buffer } | undefined;

  constructor(private readonly deps: FeatureTailDeps) {
    this.key = `feature-tail:${deps.assetId}`;
  }

  /** The event time the last committed snapshot of this source runs through (the resume position), if any. */
  committedThrough(): number | undefined {
    return this.read()?.through;
  }

  restore(spec: FeatureSpec): RestoredTail | undefined {
    const { log, resumedAfter } = this.deps;
    const snapshot = this.read();
    if (snapshot === undefined) return undefined;
    const { header, through, readings, values } = snapshot;
    const after = resumedAfter();
    // a replay from the first row (source.resume false) is asked for: worth an info line, not a warning
    const ignored = (why: string, level: 'info' | 'warn' = 'warn'): undefined => {
      log[level]({ why, through: new Date(through).toISOString() }, 'feature-window snapshot ignored; windows start empty');
      return undefined;
    };
    if (after === undefined) return ignored('the source did not resume', 'info');
    if (after !== through) return ignored('the source resumed elsewhere');
    if (header.spec !== fingerprint(spec) || header.signals !== spec.signals.length) return ignored('taken for another feature spec');
    if (readings > warmupReadings(spec)) return ignored('more readings than the longest window');
    const bad = firstUnchecked(spec, values);
    if (bad !== undefined) return ignored(`a value a reading check refuses (${bad})`);
    log.info({ readings, through: new Date(through).toISOString() }, 'feature windows restored');
    return { through, values };
  }

  snapshot(spec: FeatureSpec, through: number, tail: Float64Array): StateWrite {
    const prefix = this.prefixOf(spec);
    const value = Buffer.from(new ArrayBuffer(prefix.length + 8 * (1 + tail.length)));
    prefix.copy(value, 0);
    if (LITTLE_ENDIAN) {
      // the prefix is a multiple of 8 bytes and the buffer starts its own ArrayBuffer: aligned
      const out = new Float64Array(value.buffer, prefix.length, 1 + tail.length);
      out[0] = through;
      out.set(tail, 1);
    } else {
      value.writeDoubleLE(through, prefix.length);
      for (let i = 0; i < tail.length; i++) value.writeDoubleLE(tail[i]!, prefix.length + 8 * (i + 1));
    }
    return { key: this.key, value };
  }

  private prefixOf(spec: FeatureSpec): Buffer {
    if (this.prefix?.spec === spec) return this.prefix.bytes;
    const header: Header = { schemaVersion: 1, assetId: this.deps.assetId, source: this.deps.source, spec: fingerprint(spec), signals: spec.signals.length };
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const bytes = Buffer.alloc(Math.ceil((4 + json.length) / 8) * 8, ' ');
    bytes.writeUInt32LE(json.length, 0);
    json.copy(bytes, 4);
    this.prefix = { spec, bytes };
    return bytes;
  }

  /** The stored snapshot of this asset and source, read once; undefined (logged) when absent or unreadable. */
  private read(): Snapshot | undefined {
    if (this.stored !== null) return this.stored;
    const { log, assetId, source } = this.deps;
    this.stored = undefined;
    let raw: Buffer | undefined;
    let snapshot: Snapshot;
    try {
      raw = this.deps.outbox.state(this.key);
      if (raw === undefined) return undefined;
      snapshot = decode(raw);
    } catch (err) {
      log.warn({ problem: err instanceof Error ? err.message : String(err), bytes: raw?.length }, 'feature-window snapshot unreadable; windows start empty');
      return undefined;
    }
    const { header } = snapshot;
    if (header.assetId !== assetId || header.source !== source) {
      log.warn({ stored: { assetId: header.assetId, source: header.source }, assetId, source }, 'feature-window snapshot is for another asset or source; ignored');
      return undefined;
    }
    this.stored = snapshot;
    return snapshot;
  }
}

/** Header and values of a stored snapshot; throws saying what is wrong with it. */
function decode(raw: Buffer): Snapshot {
  if (raw.length < 4) throw new RangeError(`${raw.length} bytes: too short`);
  const headerBytes = raw.readUInt32LE(0);
  if (headerBytes > MAX_HEADER_BYTES || 4 + headerBytes > raw.length) throw new RangeError(`header length ${headerBytes} does not fit ${raw.length} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8', 4, 4 + headerBytes));
  } catch (err) {
    throw new RangeError(`header is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) throw new RangeError(`header: ${describeIssues(parsed.error)}`);
  const header = parsed.data;
  const at = Math.ceil((4 + headerBytes) / 8) * 8;
  const bytes = raw.length - at - 8;
  if (bytes < 0 || bytes % (8 * header.signals) !== 0) throw new RangeError(`${raw.length - at} bytes after the header: no time and whole readings of ${header.signals} signals`);
  const through = raw.readDoubleLE(at);
  if (!Number.isSafeInteger(through)) throw new RangeError(`time of the last reading ${through} is no time`);
  const values = new Float64Array(bytes / 8);
  for (let i = 0; i < values.length; i++) values[i] = raw.readDoubleLE(at + 8 * (i + 1));
  return { header, through, readings: values.length / header.signals, values };
}

/** Where a value lies that checkReading would not have let into a window ("signal#reading"), or undefined. */
function firstUnchecked(spec: FeatureSpec, values: Float64Array): string | undefined {
  const signals = spec.signals;
  for (let i = 0; i < values.length; i++) {
    const signal = signals[i % signals.length]!;
    const v = values[i]!;
    const ok = signal.categories === undefined
      ? Number.isFinite(v) && v >= signal.min && v <= signal.max
      : Number.isInteger(v) && v >= 0 && v < signal.categories.length;
    if (!ok) return `${signal.name}#${Math.floor(i / signals.length)}`;
  }
  return undefined;
}

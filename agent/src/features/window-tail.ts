/**
 * The feature windows across a restart. Every pipeline commit carries one compact snapshot of the asset's
 * window tail (the readings the windows still need, at most the longest window) and of where the replay
 * stands (the last reading and the last machine event committed, each with how many share its time), and
 * the active model's alert state, replacing the one before, in the outbox transaction of that commit's
 * records (Outbox.commit's `state`). So after a SIGKILL the snapshot describes exactly what is durable:
 * the replay resumes right after it (replay-position.ts prefers it to its own file, which lags by up to a
 * second), the windows start from its tail and the alert policy from its state, and no reading or event
 * is sent twice or lost from a window.
 *
 * The tail is used only when the source resumed right after the snapshot's reading and it was taken for
 * the feature spec that runs now (a fingerprint of the signals and features, the same test as a live
 * model switch, slots.ts sameRows); the alert state only for the same model. Anything else (unreadable,
 * another source, another spec after a model update, values a reading check would refuse) is logged and
 * ignored: the windows then start empty, as without it. Where the source resumed still holds for another
 * spec (the next snapshots go on from its marks); an unreadable snapshot or one of another source gives none.
 *
 * Layout (outbox/state-frame.ts): the header as JSON (validated by `headerSchema`; the same bytes for every
 * snapshot of one spec and model, so built once), then float64: the
 * HEAD_VALUES of `TailState` (see `encodeHead`), and the values reading by reading, one per spec signal
 * (FeatureWindows.tail). The values are copied in one go where the machine is little-endian
 * (bench:pipeline, per commit).
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { PdmError, describeIssues, modelRefSchema, sameModelRef, valueProblem, warmupReadings, type FeatureSpec, type ModelRef } from '@pdm/protocol';
import type { AlertState } from '../inference/alerts.js';
import type { Outbox, StateWrite } from '../outbox/outbox.js';
import { framePrefix, frameValues, readFrame, readValues, shortHash } from '../outbox/state-frame.js';
import { readSnapshot, resumeMismatch } from '../stored-snapshot.js';

/**
 * A place in event time: the last item taken was at `time`, and `count` items were taken at exactly that
 * time (for readings, with those of no usable time that came after them: restart-state.ts tookUntimed).
 */
export interface Mark {
  readonly time: number;
  readonly count: number;
}

/** Whether two marks are the same (two absent marks too). */
export const sameMark = (a: Mark | undefined, b: Mark | undefined): boolean => a?.time === b?.time && a?.count === b?.count;

/** Where a replay goes on after a restart: after the readings and machine events an earlier run committed. */
export interface ResumePoint {
  readonly readings: Mark;
  /** The last machine event committed (kept from snapshot to snapshot); undefined before the first. */
  readonly events: Mark | undefined;
}

/** What a snapshot keeps besides the windows' values. */
export interface TailState extends ResumePoint {
  /** The active model, whose alert policy `alerts` is the state of. */
  readonly model: ModelRef;
  readonly alerts: AlertState;
}

/** What the pipeline needs: the state to start from, and the state write that keeps the current one. */
export interface WindowTailKeeper {
  /**
   * Where the source resumed (the snapshot's marks), the readings to rebuild `spec`'s windows from
   * (FeatureWindows.tail layout) and the alert state of `model` when the snapshot was taken for them;
   * undefined when the source did not resume at the snapshot.
   */
  restore(spec: FeatureSpec, model: ModelRef): RestoredTail | undefined;
  /** The snapshot of windows of `spec` holding `tail`, for a commit. */
  snapshot(spec: FeatureSpec, state: TailState, tail: Float64Array | TailSource): StateWrite;
}

/** Windows that write their tail (FeatureWindows.tail layout) straight into a snapshot (AssetReader). */
export interface TailSource {
  readonly tailLength: number;
  tailInto(out: Float64Array, at: number): void;
}

export interface RestoredTail extends ResumePoint {
  /** Undefined when the snapshot was taken for another model. */
  readonly alerts: AlertState | undefined;
  /** Undefined when the tail is not for `spec` or not to be trusted: the windows start empty. */
  readonly values: Float64Array | undefined;
}

export interface FeatureTailDeps {
  readonly outbox: Pick<Outbox, 'state'>;
  readonly assetId: string;
  /** What is replayed (file and filter): a tail holds only for the same source. */
  readonly source: string;
  /** Where the source resumed, or undefined when it started from its first row. */
  readonly resumedAfter: () => ResumePoint | undefined;
  readonly log: Logger;
}

const headerSchema = z.strictObject({
  schemaVersion: z.literal(2),
  assetId: z.string(),
  source: z.string(),
  /** `fingerprint` of the spec the windows were built for. */
  spec: z.string(),
  signals: z.number().int().positive(),
  /** The active model the alert state is of. */
  model: modelRefSchema,
});
type Header = z.output<typeof headerSchema>;

interface Snapshot extends TailState {
  readonly header: Header;
  readonly readingCount: number;
  readonly values: Float64Array;
}

/** Float64 values before the tail: reading time and count, event time (NaN: none) and count, over (0/1), last alert time. */
const HEAD_VALUES = 6;
const fingerprints = new WeakMap<FeatureSpec, string>();

/** The spec's rows in a short string: what `sameRows` compares (signals and features), hashed. */
export function fingerprint(spec: FeatureSpec): string {
  let f = fingerprints.get(spec);
  if (f === undefined) {
    f = shortHash([spec.signals, spec.features]);
    fingerprints.set(spec, f);
  }
  return f;
}

export class FeatureTail implements WindowTailKeeper {
  private readDone = false;
  /** The snapshot read at start, when there is a usable one (`readDone`). */
  private stored: Snapshot | undefined;
  private readonly key: string;
  /** The length, header and padding of the snapshots of one spec and model. */
  private prefix: { readonly spec: FeatureSpec; readonly model: ModelRef; readonly bytes: Buffer } | undefined;

  constructor(private readonly deps: FeatureTailDeps) {
    this.key = `feature-tail:${deps.assetId}`;
  }

  /** Where the last committed snapshot of this source says the replay stands (the resume position), if any. */
  resumePoint(): ResumePoint | undefined {
    const s = this.read();
    return s === undefined ? undefined : { readings: s.readings, events: s.events };
  }

  restore(spec: FeatureSpec, model: ModelRef): RestoredTail | undefined {
    const { log, resumedAfter } = this.deps;
    const snapshot = this.read();
    if (snapshot === undefined) return undefined;
    const { header, readings, readingCount, values } = snapshot;
    const ignored = (why: string, level: 'info' | 'warn' = 'warn'): undefined => {
      log[level]({ why, through: new Date(readings.time).toISOString() }, 'feature-window snapshot ignored; windows start empty');
      return undefined;
    };
    const mismatch = resumeMismatch(resumedAfter()?.readings, readings);
    if (mismatch !== undefined) return ignored(mismatch.why, mismatch.level);
    // the source resumed at the marks: they hold even where the tail does not (the next snapshots keep the last event)
    const bad = header.spec !== fingerprint(spec) || header.signals !== spec.signals.length ? 'taken for another feature spec'
      : readingCount > warmupReadings(spec) ? 'more readings than the longest window'
        : firstUnchecked(spec, values);
    if (bad !== undefined) {
      ignored(bad);
      return { readings, events: snapshot.events, alerts: undefined, values: undefined };
    }
    // a model of the same spec with another threshold or direction would judge the scores otherwise
    const alerts = sameModelRef(header.model, model) ? snapshot.alerts : undefined;
    log.info({ readings: readingCount, through: new Date(readings.time).toISOString(), alertsRestored: alerts !== undefined }, 'feature windows restored');
    return { readings, events: snapshot.events, alerts, values };
  }

  snapshot(spec: FeatureSpec, state: TailState, tail: Float64Array | TailSource): StateWrite {
    const length = tail instanceof Float64Array ? tail.length : tail.tailLength;
    const value = frameValues(this.prefixOf(spec, state.model), HEAD_VALUES + length, (out) => {
      encodeHead(state, out);
      if (tail instanceof Float64Array) out.set(tail, HEAD_VALUES);
      else tail.tailInto(out, HEAD_VALUES);
    });
    // the outbox dates the restart state by the commits that store this one (outbox/state-watch.ts)
    return { key: this.key, value, resumePoint: true };
  }

  private prefixOf(spec: FeatureSpec, model: ModelRef): Buffer {
    const p = this.prefix;
    if (p !== undefined && p.spec === spec && sameModelRef(p.model, model)) return p.bytes;
    const header: Header = {
      schemaVersion: 2, assetId: this.deps.assetId, source: this.deps.source, spec: fingerprint(spec), signals: spec.signals.length,
      model: { name: model.name, version: model.version },
    };
    const bytes = framePrefix(header);
    this.prefix = { spec, model, bytes };
    return bytes;
  }

  /** The stored snapshot of this asset and source, read once; undefined (logged) when absent or unusable. */
  private read(): Snapshot | undefined {
    if (this.readDone) return this.stored;
    this.readDone = true;
    const { log, assetId, source } = this.deps;
    const snapshot = readSnapshot(this.deps, this.key, decode, {
      outboxFailed: 'feature-window snapshot not read: outbox failed; windows start empty', unreadable: 'feature-window snapshot unreadable; windows start empty',
    });
    if (snapshot === undefined) return undefined;
    const { header } = snapshot;
    if (header.assetId !== assetId || header.source !== source) {
      log.warn({ stored: { assetId: header.assetId, source: header.source }, assetId, source }, 'feature-window snapshot is for another asset or source; ignored');
      return undefined;
    }
    this.stored = snapshot;
    return snapshot;
  }
}

function encodeHead(state: TailState, out: Float64Array): void {
  out[0] = state.readings.time;
  out[1] = state.readings.count;
  out[2] = state.events?.time ?? Number.NaN;
  out[3] = state.events?.count ?? 0;
  out[4] = state.alerts.over ? 1 : 0;
  out[5] = state.alerts.lastRaisedAt;
}

const invalid = (problem: string, bytes: number): PdmError =>
  new PdmError('STATE_INVALID', `feature-window snapshot: ${problem}`, { context: { bytes } });

/** Header, state and values of a stored snapshot; throws STATE_INVALID saying what is wrong with it. */
function decode(raw: Buffer): Snapshot {
  let frame: { header: unknown; at: number };
  try {
    frame = readFrame(raw);
  } catch (cause) {
    throw new PdmError('STATE_INVALID', `feature-window snapshot: ${(cause as Error).message}`, { cause, context: { bytes: raw.length } });
  }
  const parsed = headerSchema.safeParse(frame.header);
  if (!parsed.success) throw invalid(`header: ${describeIssues(parsed.error)}`, raw.length);
  const header = parsed.data;
  const at = frame.at;
  const bytes = raw.length - at - 8 * HEAD_VALUES;
  if (bytes < 0 || bytes % (8 * header.signals) !== 0) {
    throw invalid(`${raw.length - at} bytes after the header: no state and whole readings of ${header.signals} signals`, raw.length);
  }
  const head = [...readValues(raw, at, HEAD_VALUES)];
  const values = readValues(raw, at + 8 * HEAD_VALUES, bytes / 8);
  return { header, ...stateOf(head, header, raw.length), readingCount: values.length / header.signals, values };
}

/** The state values of a snapshot, each checked. */
function stateOf(head: readonly number[], header: Header, bytes: number): TailState {
  const [readingTime, readingCount, eventTime, eventCount, over, lastRaisedAt] = head as [number, number, number, number, number, number];
  const isCount = (n: number): boolean => Number.isSafeInteger(n) && n > 0;
  if (!Number.isSafeInteger(readingTime)) throw invalid(`time of the last reading ${readingTime} is no time`, bytes);
  if (!isCount(readingCount)) throw invalid(`readings at the last time ${readingCount} is no count`, bytes);
  const noEvent = Number.isNaN(eventTime) && eventCount === 0;
  if (!noEvent && !(Number.isSafeInteger(eventTime) && isCount(eventCount))) throw invalid(`last event ${eventTime} x ${eventCount} is no time and count`, bytes);
  if (over !== 0 && over !== 1) throw invalid(`alert state ${over} is neither 0 nor 1`, bytes);
  if (lastRaisedAt !== Number.NEGATIVE_INFINITY && !Number.isSafeInteger(lastRaisedAt)) throw invalid(`time of the last alert ${lastRaisedAt} is no time`, bytes);
  return {
    readings: { time: readingTime, count: readingCount },
    events: noEvent ? undefined : { time: eventTime, count: eventCount },
    model: header.model,
    alerts: { over: over === 1, lastRaisedAt },
  };
}

/** Why no reading check would have let a value into a window ("... (signal#reading)"), or undefined. */
function firstUnchecked(spec: FeatureSpec, values: Float64Array): string | undefined {
  const signals = spec.signals;
  for (let i = 0; i < values.length; i++) {
    const signal = signals[i % signals.length]!;
    if (valueProblem(signal, values[i]!) !== undefined) return `a value a reading check refuses (${signal.name}#${Math.floor(i / signals.length)})`;
  }
  return undefined;
}

/**
 * The sensor-source contract. A source turns some input (a CSV replay today; a local MQTT topic, HTTP or
 * OPC UA later) into raw readings keyed by the model's signal names, in event-time order. It does not
 * validate values: the feature stage does, so every source gets the same checks and reject reasons.
 */
import type { MachineEventType, ReadingRejectReason } from '@pdm/protocol';

export interface RawReading {
  /** Event time in ms since the epoch; NaN when `timeProblem` is set. */
  readonly time: number;
  /** Why the time is unusable: absent, unparseable, or earlier than the reading before it. */
  readonly timeProblem?: ReadingRejectReason;
  /** Raw value per model signal, as the source saw it (CSV gives strings). */
  readonly values: Readonly<Record<string, unknown>>;
}

/** Something that happened to the machine, as the source knows it (ground truth in a replay). */
export interface SourceEvent {
  readonly time: number;
  readonly type: MachineEventType;
  readonly component?: string;
  readonly source: 'sensor' | 'replay' | 'operator' | 'cmms';
}

/** Where a source delivers. Each call is awaited, so a slow consumer slows the source (backpressure). */
export interface SourceSink {
  reading(reading: RawReading): Promise<void>;
  event(event: SourceEvent): Promise<void>;
  /** The source is about to wait for real time: flush anything buffered for batching now. */
  idle(): Promise<void>;
}

export interface SourceSummary {
  readonly rows: number;
  readonly events: number;
  /** True when the input ran out; false when the source was stopped first. */
  readonly ended: boolean;
}

export interface SensorSource {
  readonly name: string;
  /** Starts delivering to `sink` in the background; throws if the input cannot be opened. */
  start(sink: SourceSink): Promise<void>;
  /** Stops delivering; resolves once no further sink call will be made (so never await it inside one). */
  stop(): Promise<void>;
  /** Settles when delivery ends: resolves on end of input or stop, rejects (SOURCE_FAILED) on failure. */
  readonly done: Promise<SourceSummary>;
}

/** What a source can deliver; asked before a model is loaded to run on it. */
export interface SignalSupply {
  /** Why some of `signals` cannot be delivered (each one named), or undefined when all can. */
  unprovided(signals: readonly string[]): string | undefined;
}

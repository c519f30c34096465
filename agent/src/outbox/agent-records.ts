/**
 * The records the agent builds itself (prediction batches, alerts, metric windows), valid by construction
 * and encoded without a schema pass (issue 9: zod on every commit of these was ~2/3 of the pipeline's own
 * cost). Each builder takes typed inputs, checks what a type cannot say (a finite score, a time a record
 * can carry, a count that is a safe integer) with a plain comparison, and writes the record's JSON itself
 * in the schema's key order, so the payload is the same bytes the validating path (zod, then
 * JSON.stringify) makes of the same record. The constant parts (asset id, model refs) go through their
 * zod schemas once and are kept as JSON text. agent-records.test.ts proves it over random and edge inputs:
 * a builder accepts exactly what the schema accepts and encodes it byte for byte as before.
 *
 * Anything else (machine events, quality and drift windows, shadow comparisons, a draft a test writes by
 * hand) is a plain RecordDraft and the outbox validates it in full at commit (outbox.ts, encodeDraft).
 */
import {
  MAX_PREDICTIONS_PER_BATCH, PdmError, deviceIdSchema, describeIssues, modelRefSchema, nameSchema, readingRejectReasons,
  type FeatureSpec, type ModelRef, type ModelRole, type ReadingRejectReason, type RecordKind,
} from '@pdm/protocol';
import { IsoTime, YEAR_10000_MS } from '../metrics/iso-time.js';
import type { RecordDraft } from './outbox.js';

type RecordOfDraft<K extends RecordKind> = Extract<RecordDraft, { kind: K }>['record'];
export type BuiltKind = 'predictions' | 'alerts' | 'metrics';

/** Only the builders of this module may make a BuiltDraft: the outbox trusts its JSON. */
const BUILDER: unique symbol = Symbol('agent record builder');

/**
 * A record built here. It is also a RecordDraft (kind and record) for the parts that read what they commit;
 * the outbox encodes it from the JSON made at build time, so the payload is fixed once it is built.
 */
export class BuiltDraft<K extends BuiltKind = BuiltKind> {
  constructor(
    key: typeof BUILDER,
    readonly kind: K,
    readonly record: RecordOfDraft<K>,
    /** The record's JSON after its header: `"time":...}` (the header is added per commit). */
    private readonly rest: string,
  ) {
    if (key !== BUILDER) throw new PdmError('PAYLOAD_INVALID', 'a built record comes from its builder', { context: { kind } });
  }

  /** The payload: deviceId and seq first, as the schema orders them, then the record. */
  encode(deviceId: string, seq: number): Buffer {
    if (!Number.isSafeInteger(seq) || seq < 1) throw invalid(this.kind, 'seq', 'a safe integer >= 1');
    return Buffer.from(`${headerOf(deviceId)}${seq},${this.rest}`, 'utf8');
  }
}

/** Any built record (BuiltDraft<BuiltKind> is not the union of the three). */
export type AnyBuiltDraft = { [K in BuiltKind]: BuiltDraft<K> }[BuiltKind];

function invalid(kind: RecordKind, field: string, expected: string): PdmError {
  return new PdmError('PAYLOAD_INVALID', `${kind} record: ${field}: expected ${expected}`, { context: { kind, field } });
}

let lastDevice: { readonly id: string; readonly header: string } | undefined;

/** `{"deviceId":"...","seq":` of a device id checked by its schema (once per id: an agent has one). */
function headerOf(deviceId: string): string {
  if (lastDevice?.id === deviceId) return lastDevice.header;
  const parsed = deviceIdSchema.safeParse(deviceId);
  if (!parsed.success) throw new PdmError('PAYLOAD_INVALID', `deviceId: ${describeIssues(parsed.error)}`, { context: { field: 'deviceId' } });
  lastDevice = { id: deviceId, header: `{"deviceId":${JSON.stringify(deviceId)},"seq":` };
  return lastDevice.header;
}

const checkedNames = new Map<string, string>();
const checkedRefs = new WeakMap<ModelRef, string>();

/** JSON text of an asset id, checked by nameSchema on first use. */
function nameJson(kind: RecordKind, name: string): string {
  const known = checkedNames.get(name);
  if (known !== undefined) return known;
  if (!nameSchema.safeParse(name).success) throw invalid(kind, 'assetId', '1-128 characters, no control characters');
  const json = JSON.stringify(name);
  // an agent watches one asset: the cache stays tiny; a test making thousands starts it over
  if (checkedNames.size >= 64) checkedNames.clear();
  checkedNames.set(name, json);
  return json;
}

/** JSON text of a model ref as modelRefSchema outputs it (name, then version), checked on first use. */
function refJson(kind: RecordKind, ref: ModelRef): string {
  const known = checkedRefs.get(ref);
  if (known !== undefined) return known;
  const parsed = modelRefSchema.safeParse(ref);
  if (!parsed.success) throw invalid(kind, 'model', `a model ref (${describeIssues(parsed.error)})`);
  const json = JSON.stringify(parsed.data);
  checkedRefs.set(ref, json);
  return json;
}

/**
 * One record per item, each built on its own: one its builder refuses is handed to `refused` and left
 * out, so it alone is lost (the windows that hold these items are emptied before, so it cannot come back
 * to fail every later commit with the records beside it).
 */
export function buildEach<T>(items: readonly T[], build: (item: T) => RecordDraft, refused: (err: unknown) => void): RecordDraft[] {
  const drafts: RecordDraft[] = [];
  for (const item of items) {
    try {
      drafts.push(build(item));
    } catch (err) {
      refused(err);
    }
  }
  return drafts;
}

/** 0000-01-01T00:00:00.000Z and 10000-01-01: the times an ISO 8601 record time (four-digit year) can hold. */
const MIN_TIME_MS = -62_167_219_200_000;
const iso = new IsoTime();

const TIME_RANGE = 'a time between years 0 and 9999';
// a record time drops a fraction of a ms (toward zero, as Date does): MIN_TIME_MS - 0.5 is still year 0
const inTimeRange = (ms: number): boolean => ms > MIN_TIME_MS - 1 && ms < YEAR_10000_MS;

/** The record time of an event time in ms. Its characters need no JSON escaping. */
function timeOf(kind: RecordKind, field: string, ms: number): string {
  if (!inTimeRange(ms)) throw invalid(kind, field, TIME_RANGE);
  return iso.format(ms);
}

function finite(kind: RecordKind, field: string, value: number): number {
  if (!Number.isFinite(value)) throw invalid(kind, field, 'a finite number');
  return value;
}

function count(kind: RecordKind, field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw invalid(kind, field, 'a safe integer >= 0');
  return value;
}

const nonNegative = (x: number): boolean => x >= 0 && x < Infinity;

/** A value of a closed set, checked at run time too: it goes into the JSON unescaped. */
function oneOf<T extends string>(kind: RecordKind, field: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) throw invalid(kind, field, allowed.join(' | '));
  return value;
}

function horizon(kind: RecordKind, hours: number): number {
  if (!(hours > 0 && hours <= 24 * 365)) throw invalid(kind, 'horizonHours', 'a number in (0, 8760]');
  return hours;
}

/** The rows of one prediction batch, in time order: event time, score and alert decision of each. */
export interface PredictionRows {
  readonly times: readonly number[];
  readonly scores: readonly number[];
  readonly alerts: readonly boolean[];
}

const ROLES: readonly ModelRole[] = ['active', 'shadow'];
const SEVERITIES = ['warning', 'critical'] as const;
const ACTIONS = ['triggered', 'review'] as const;

export interface BatchHead {
  readonly assetId: string;
  readonly model: ModelRef;
  readonly role: ModelRole;
  readonly spec: Pick<FeatureSpec, 'horizonHours' | 'threshold'>;
}

/** The prediction batch of `rows`, or undefined when there are none (a batch holds at least one). */
export function predictionBatch(head: BatchHead, rows: PredictionRows): BuiltDraft<'predictions'> | undefined {
  const n = rows.times.length;
  if (n === 0) return undefined;
  if (n > MAX_PREDICTIONS_PER_BATCH) throw invalid('predictions', 'predictions', `at most ${MAX_PREDICTIONS_PER_BATCH} rows`);
  if (rows.scores.length !== n || rows.alerts.length !== n) throw invalid('predictions', 'predictions', 'a score and an alert per time');
  const { spec } = head;
  const horizonHours = spec.horizonHours === undefined ? undefined : horizon('predictions', spec.horizonHours);
  const threshold = finite('predictions', 'threshold', spec.threshold);
  const role = oneOf('predictions', 'role', head.role, ROLES);
  const predictions = new Array<{ t: string; score: number; alert: boolean }>(n);
  // joined at the end: one flat string, where `+=` per row left a deep rope the encoder walks again
  const entries = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    // checked inline: a field name built per row would cost more than the check
    const ms = rows.times[i]!;
    if (!inTimeRange(ms)) throw invalid('predictions', `predictions.${i}.t`, TIME_RANGE);
    const score = rows.scores[i]!;
    if (!Number.isFinite(score)) throw invalid('predictions', `predictions.${i}.score`, 'a finite number');
    const t = iso.format(ms);
    const alert = rows.alerts[i] === true;
    predictions[i] = { t, score, alert };
    entries[i] = `{"t":"${t}","score":${score},"alert":${alert}}`;
  }
  const time = predictions[n - 1]!.t;
  const record = {
    time, assetId: head.assetId, model: head.model, role,
    ...(horizonHours === undefined ? {} : { horizonHours }), threshold, predictions,
  };
  const json = `"time":"${time}","assetId":${nameJson('predictions', head.assetId)},"model":${refJson('predictions', head.model)},`
    + `"role":"${role}",${horizonHours === undefined ? '' : `"horizonHours":${horizonHours},`}"threshold":${threshold},`
    + `"predictions":[${entries.join(',')}]}`;
  return new BuiltDraft(BUILDER, 'predictions', record, json);
}

export interface AlertFields {
  readonly assetId: string;
  readonly model: ModelRef;
  /** Event time of the reading that raised it: the record's time and its windowEnd. */
  readonly time: number;
  readonly score: number;
  readonly threshold: number;
  readonly severity: 'warning' | 'critical';
  readonly message: string;
  readonly action?: 'triggered' | 'review';
  readonly deploymentId?: string;
}

export function alertRecord(f: AlertFields): BuiltDraft<'alerts'> {
  const time = timeOf('alerts', 'time', f.time);
  const score = finite('alerts', 'score', f.score);
  const threshold = finite('alerts', 'threshold', f.threshold);
  if (f.message.length > 512) throw invalid('alerts', 'message', 'at most 512 characters');
  const severity = oneOf('alerts', 'severity', f.severity, SEVERITIES);
  const action = f.action === undefined ? undefined : oneOf('alerts', 'action', f.action, ACTIONS);
  const { deploymentId } = f;
  if (deploymentId !== undefined && (deploymentId.length < 1 || deploymentId.length > 128)) {
    throw invalid('alerts', 'deploymentId', '1-128 characters');
  }
  const record = {
    time, assetId: f.assetId, model: f.model, score, threshold, severity, windowEnd: time, message: f.message,
    ...(action === undefined ? {} : { action }), ...(deploymentId === undefined ? {} : { deploymentId }),
  };
  const json = `"time":"${time}","assetId":${nameJson('alerts', f.assetId)},"model":${refJson('alerts', f.model)},`
    + `"score":${score},"threshold":${threshold},"severity":"${severity}","windowEnd":"${time}","message":${JSON.stringify(f.message)}`
    + `${action === undefined ? '' : `,"action":"${action}"`}${deploymentId === undefined ? '' : `,"deploymentId":${JSON.stringify(deploymentId)}`}}`;
  return new BuiltDraft(BUILDER, 'alerts', record, json);
}

export interface MetricWindowFields {
  readonly assetId: string;
  /** Window bounds, event time in ms; the record's time is its end. */
  readonly start: number;
  readonly end: number;
  readonly readings: number;
  readonly rejected: Readonly<Partial<Record<ReadingRejectReason, number>>>;
  readonly inferences: number;
  readonly inferenceErrors: number;
  readonly alerts: number;
  readonly latencyMs?: { readonly p50: number; readonly p95: number; readonly max: number } | undefined;
  readonly model?: ModelRef;
  readonly role?: ModelRole;
}

export function metricWindow(f: MetricWindowFields): BuiltDraft<'metrics'> {
  const windowStart = timeOf('metrics', 'windowStart', f.start);
  const windowEnd = timeOf('metrics', 'windowEnd', f.end);
  // the schema compares the times as written, and a record time drops a fraction of a ms (toward zero)
  if (Math.trunc(f.start) > Math.trunc(f.end)) throw invalid('metrics', 'windowEnd', 'a time not before windowStart');
  const rejectedReadings: Partial<Record<ReadingRejectReason, number>> = {};
  let rejectedJson = '';
  // for-in: no array of keys per window (most have no rejections); the same keys and order as Object.keys
  for (const key in f.rejected) {
    const reason = oneOf('metrics', 'rejectedReadings', key as ReadingRejectReason, readingRejectReasons);
    const n = count('metrics', `rejectedReadings.${reason}`, f.rejected[reason]!);
    rejectedReadings[reason] = n;
    rejectedJson += `${rejectedJson === '' ? '' : ','}"${reason}":${n}`;
  }
  const latency = f.latencyMs;
  if (latency !== undefined && !(nonNegative(latency.p50) && nonNegative(latency.p95) && nonNegative(latency.max))) {
    throw invalid('metrics', 'latencyMs', 'finite numbers >= 0');
  }
  const { model } = f;
  const role = f.role === undefined ? undefined : oneOf('metrics', 'role', f.role, ROLES);
  const record = {
    time: windowEnd, assetId: f.assetId, windowStart, windowEnd,
    readings: count('metrics', 'readings', f.readings), rejectedReadings,
    inferences: count('metrics', 'inferences', f.inferences), inferenceErrors: count('metrics', 'inferenceErrors', f.inferenceErrors),
    alerts: count('metrics', 'alerts', f.alerts),
    ...(latency === undefined ? {} : { latencyMs: { p50: latency.p50, p95: latency.p95, max: latency.max } }),
    ...(model === undefined ? {} : { model }), ...(role === undefined ? {} : { role }),
  };
  const json = `"time":"${windowEnd}","assetId":${nameJson('metrics', f.assetId)},"windowStart":"${windowStart}","windowEnd":"${windowEnd}",`
    + `"readings":${record.readings},"rejectedReadings":{${rejectedJson}},"inferences":${record.inferences},`
    + `"inferenceErrors":${record.inferenceErrors},"alerts":${record.alerts}`
    + `${latency === undefined ? '' : `,"latencyMs":{"p50":${latency.p50},"p95":${latency.p95},"max":${latency.max}}`}`
    + `${model === undefined ? '' : `,"model":${refJson('metrics', model)}`}${role === undefined ? '' : `,"role":"${role}"`}}`;
  return new BuiltDraft(BUILDER, 'metrics', record, json);
}

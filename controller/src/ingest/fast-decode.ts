/**
 * A fast path past zod for the two record kinds that make up nearly all of ingest: prediction batches
 * and metric windows (issue 9: decode + zod was 28-38% of the record worker's busy time, most of it
 * zod's pass over each prediction). Each check below is a plain comparison of the parsed JSON against
 * what the kind's schema in protocol/src/messages/records.ts demands, and it only ACCEPTS: it says yes
 * when it is certain the schema takes the input and returns exactly what zod's parse would (the
 * input itself, which then must already have zod's output shape: the schema's keys in the schema's
 * order, nothing dropped or added). Anything else, valid or not, returns undefined and goes through
 * the full zod parse (codec.ts checkPayload), so every refusal and its message stay zod's.
 *
 * fast-decode.test.ts proves it over random and edge inputs: whenever this accepts, zod accepts with a
 * deep-equal output in the same key order; wherever zod refuses, decodeUpstream refuses with zod's error.
 * The key-list test holds the key lists to the schemas. The limits below are copies: a schema made
 * stricter than them fails the tests (their good values include each limit), one made looser only
 * sends more input to zod; a check added to a schema (a refine) is caught only where the generated
 * inputs happen to break it, so a schema change must come here too.
 */
import {
  DEVICE_ID_PATTERN, MAX_PREDICTIONS_PER_BATCH, PdmError, timeSchema, type MetricWindow, type PredictionBatch, type UpKind,
} from '@pdm/protocol';

type Json = Record<string, unknown>;

/** Each strict object's keys, in its schema's order (fast-decode.test.ts holds them to the schemas). */
export const PREDICTION_BATCH_KEYS = ['deviceId', 'seq', 'time', 'assetId', 'model', 'role', 'horizonHours', 'threshold', 'predictions'] as const;
export const PREDICTION_KEYS = ['t', 'score', 'alert'] as const;
export const METRIC_WINDOW_KEYS = [
  'deviceId', 'seq', 'time', 'assetId', 'windowStart', 'windowEnd', 'readings', 'rejectedReadings', 'inferences', 'inferenceErrors', 'alerts',
  'latencyMs', 'model', 'role',
] as const;
export const MODEL_REF_KEYS = ['name', 'version'] as const;
export const LATENCY_KEYS = ['p50', 'p95', 'max'] as const;

/** nameSchema's pattern (common.ts): its `+` also stands for the schema's min(1). */
const NAME = /^[^\u0000-\u001f]+$/;
/** modelRefSchema's version pattern (common.ts); its `+` also stands for the schema's min(1). */
const VERSION = /^[A-Za-z0-9._+-]+$/;
/** The very pattern zod tests timeSchema with (z.iso.datetime({ offset: true })), so the two cannot drift. */
const TIME = timeSchema.def.pattern ?? missingPattern();
const MAX_HORIZON_HOURS = 24 * 365;
const MAX_REASONS = 64;

function missingPattern(): never {
  throw new PdmError('INTERNAL', 'timeSchema carries no pattern: the fast decode path cannot mirror it');
}

/**
 * The record zod's parse would return for this kind's JSON, when certain; undefined means "ask zod".
 * `deviceId` is the topic's: a payload naming another device is left to checkPayload's DEVICE_MISMATCH.
 */
export function fastRecord(kind: UpKind, json: unknown, deviceId: string): PredictionBatch | MetricWindow | undefined {
  if (kind === 'predictions') return isPredictionBatch(json, deviceId) ? json as PredictionBatch : undefined;
  if (kind === 'metrics') return isMetricWindow(json, deviceId) ? json as MetricWindow : undefined;
  return undefined;
}

function isPredictionBatch(o: unknown, deviceId: string): o is Json {
  return isObject(o) && hasKeysInOrder(o, PREDICTION_BATCH_KEYS) && isHeader(o, deviceId) && isName(o.assetId)
    && isModelRef(o.model) && isRole(o.role) && (!Object.hasOwn(o, 'horizonHours') || isHorizon(o.horizonHours))
    && Number.isFinite(o.threshold) && isPredictions(o.predictions);
}

function isPredictions(v: unknown): boolean {
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_PREDICTIONS_PER_BATCH) return false;
  for (const p of v as unknown[]) {
    if (!isObject(p) || !hasKeysInOrder(p, PREDICTION_KEYS) || !isTime(p.t) || !Number.isFinite(p.score) || typeof p.alert !== 'boolean') return false;
  }
  return true;
}

function isMetricWindow(o: unknown, deviceId: string): o is Json {
  return isObject(o) && hasKeysInOrder(o, METRIC_WINDOW_KEYS) && isHeader(o, deviceId) && isName(o.assetId)
    && isTime(o.windowStart) && isTime(o.windowEnd) && isCount(o.readings) && isReasonCounts(o.rejectedReadings)
    && isCount(o.inferences) && isCount(o.inferenceErrors) && isCount(o.alerts)
    && (!Object.hasOwn(o, 'latencyMs') || isLatency(o.latencyMs)) && (!Object.hasOwn(o, 'model') || isModelRef(o.model))
    && (!Object.hasOwn(o, 'role') || isRole(o.role))
    // the schema's refine, the same expression: an unparsable time is NaN, and NaN <= x is false
    && Date.parse(o.windowStart as string) <= Date.parse(o.windowEnd as string);
}

/** recordHeader (common.ts), with the deviceId the topic names. */
function isHeader(o: Json, deviceId: string): boolean {
  return o.deviceId === deviceId && DEVICE_ID_PATTERN.test(deviceId) && isSeq(o.seq) && isTime(o.time);
}

/**
 * True when `o`'s own keys all come from `keys`, in that order: the object holds no key its strict schema
 * refuses, and its keys are in the order zod's output writes them. A required key that is missing is
 * caught by its value check (undefined passes none of them); optional ones are checked only when present.
 */
function hasKeysInOrder(o: Json, keys: readonly string[]): boolean {
  let i = 0;
  // own keys only: an inherited enumerable key (a polluted prototype) is not in the input zod reads
  for (const key of Object.keys(o)) {
    while (i < keys.length && keys[i] !== key) i++;
    if (i === keys.length) return false;
    i++;
  }
  return true;
}

/** reasonCountsSchema: a record of 1-64 character reasons to counts, at most 64 of them. */
function isReasonCounts(v: unknown): boolean {
  if (!isObject(v)) return false;
  let n = 0;
  for (const key of Object.keys(v)) {
    // zod's record drops a "__proto__" key from its output: not the input, so it is left to zod
    if (++n > MAX_REASONS || key.length < 1 || key.length > 64 || key === '__proto__' || !isCount(v[key])) return false;
  }
  return true;
}

function isModelRef(v: unknown): boolean {
  return isObject(v) && hasKeysInOrder(v, MODEL_REF_KEYS) && isName(v.name)
    && typeof v.version === 'string' && v.version.length <= 64 && VERSION.test(v.version);
}

function isLatency(v: unknown): boolean {
  return isObject(v) && hasKeysInOrder(v, LATENCY_KEYS) && isNonNegative(v.p50) && isNonNegative(v.p95) && isNonNegative(v.max);
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isName = (v: unknown): boolean => typeof v === 'string' && v.length <= 128 && NAME.test(v);
const isTime = (v: unknown): boolean => typeof v === 'string' && TIME.test(v);
const isRole = (v: unknown): boolean => v === 'active' || v === 'shadow';
// zod 4's z.number() takes finite numbers only; JSON.parse makes Infinity of 1e400
const isSeq = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 1;
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isNonNegative = (v: unknown): boolean => Number.isFinite(v) && (v as number) >= 0;
const isHorizon = (v: unknown): boolean => typeof v === 'number' && v > 0 && v <= MAX_HORIZON_HOURS;

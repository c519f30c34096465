/**
 * One upstream message checked and decoded (topic, size cap, JSON, zod schema, deviceId equal to the
 * topic's), for both halves of ingest: records (record-batch.ts, on the worker) and statuses, replies
 * and fetch requests (ingest.ts). What is refused says why, with the kind and device the topic names.
 * Prediction batches and metric windows that fast-decode.ts is certain of skip the zod pass.
 */
import { PdmError, checkPayload, isPdmError, parsePayloadJson, type ParsedTopic, type UpKind } from '@pdm/protocol';
import { fastRecord } from './fast-decode.js';

export type Decoding =
  | { readonly ok: true; readonly kind: UpKind; readonly deviceId: string; readonly payload: unknown }
  | { readonly ok: false; readonly kind: string; readonly deviceId: string; readonly error: PdmError };

/**
 * `parsed`: parseTopic(topic), made once per message by the caller (undefined: not a pdm topic, refused
 * here without parsing it again). `accepts`: the upstream kinds this caller handles; any other topic
 * is TOPIC_INVALID with `refusal`.
 */
export function decodeUpstream(topic: string, parsed: ParsedTopic | undefined, payload: Uint8Array, accepts: (kind: string) => boolean,
  refusal: string): Decoding {
  // `+` in a subscription also matches levels that are not valid deviceIds
  if (parsed === undefined || parsed.direction !== 'up' || !accepts(parsed.kind)) {
    return { ok: false, kind: topic.split('/').at(-1) ?? '', deviceId: '', error: new PdmError('TOPIC_INVALID', refusal) };
  }
  const kind = parsed.kind as UpKind;
  try {
    const json = parsePayloadJson(kind, payload);
    // the hot record kinds skip zod when certain it accepts them (fast-decode.ts); the rest, and every refusal, is zod's
    const decoded = fastRecord(kind, json, parsed.deviceId) ?? checkPayload(kind, json, parsed.deviceId);
    return { ok: true, kind, deviceId: parsed.deviceId, payload: decoded };
  } catch (err) {
    const error = isPdmError(err) ? err : new PdmError('INTERNAL', 'decode failed', { cause: err });
    return { ok: false, kind, deviceId: parsed.deviceId, error };
  }
}

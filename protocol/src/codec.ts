/**
 * Encoding and decoding of payloads at the MQTT boundary: size cap first, then JSON, then the schema of
 * the topic, then the deviceId in the payload against the one in the topic. Errors say precisely what
 * is wrong, in a form safe to log (never the raw payload).
 */
import { z } from 'zod';
import { PdmError } from './errors.js';
import { payloadSchemas, type PayloadOf } from './messages/index.js';
import { topicSpecs, type TopicKind } from './topics.js';

export function encodePayload<K extends TopicKind>(kind: K, payload: PayloadOf<K>): Buffer {
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

/** Formats zod issues as "path: message" lines, the first few only. */
export function describeIssues(error: z.ZodError, max = 10): string {
  const lines = error.issues.slice(0, max).map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
  if (error.issues.length > max) lines.push(`... and ${error.issues.length - max} more`);
  return lines.join('; ');
}

export function decodePayload<K extends TopicKind>(
  kind: K,
  bytes: Uint8Array,
  expectedDeviceId?: string,
): PayloadOf<K> {
  return checkPayload(kind, parsePayloadJson(kind, bytes), expectedDeviceId);
}

/** A fatal decoder is stateless between whole (non-stream) decodes: one serves every call. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The first half of decodePayload: size cap, then UTF-8 JSON. */
export function parsePayloadJson(kind: TopicKind, bytes: Uint8Array): unknown {
  const spec = topicSpecs[kind];
  if (bytes.byteLength > spec.maxBytes) {
    throw new PdmError('PAYLOAD_TOO_LARGE', `payload of ${bytes.byteLength} bytes exceeds ${spec.maxBytes} for ${kind}`, {
      context: { kind, bytes: bytes.byteLength, limit: spec.maxBytes },
    });
  }
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch (cause) {
    throw new PdmError('PAYLOAD_NOT_JSON', `payload for ${kind} is not UTF-8 JSON`, { cause, context: { kind } });
  }
}

/** The second half of decodePayload: the topic's schema, then the deviceId against the topic's. */
export function checkPayload<K extends TopicKind>(kind: K, json: unknown, expectedDeviceId?: string): PayloadOf<K> {
  const parsed = payloadSchemas[kind].safeParse(json);
  if (!parsed.success) {
    throw new PdmError('PAYLOAD_INVALID', `${kind}: ${describeIssues(parsed.error)}`, {
      context: { kind, issues: parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  const payload = parsed.data as PayloadOf<K>;
  if (expectedDeviceId !== undefined && 'deviceId' in payload && payload.deviceId !== expectedDeviceId) {
    throw new PdmError('DEVICE_MISMATCH', `payload deviceId differs from topic deviceId`, {
      context: { kind, topicDeviceId: expectedDeviceId, payloadDeviceId: payload.deviceId },
    });
  }
  return payload;
}

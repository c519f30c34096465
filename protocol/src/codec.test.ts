import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePayload, encodePayload } from './codec.js';
import { isPdmError, PdmError } from './errors.js';
import type { PredictionBatch } from './messages/index.js';

const batch: PredictionBatch = {
  deviceId: 'gw-1',
  seq: 1,
  time: '2015-01-01T06:00:00.000Z',
  assetId: 'machine-1',
  model: { name: 'm', version: '1.0.0' },
  role: 'active',
  threshold: 0.5,
  predictions: [{ t: '2015-01-01T06:00:00.000Z', score: 0.1, alert: false }],
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isPdmError(err) ? err.code : 'not-a-PdmError';
  }
  return undefined;
}

describe('codec', () => {
  it('round-trips a valid payload', () => {
    expect(decodePayload('predictions', encodePayload('predictions', batch), 'gw-1')).toEqual(batch);
  });

  it('refuses an oversized payload before parsing it', () => {
    expect(codeOf(() => decodePayload('alerts', Buffer.alloc(17 * 1024, 0x20)))).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses bytes that are not UTF-8 JSON', () => {
    expect(codeOf(() => decodePayload('alerts', Buffer.from('{"a":')))).toBe('PAYLOAD_NOT_JSON');
    expect(codeOf(() => decodePayload('alerts', Buffer.from([0xff, 0xfe, 0x7b, 0x7d])))).toBe('PAYLOAD_NOT_JSON');
  });

  it('names the field that is wrong', () => {
    const bad = { ...batch, seq: 0, predictions: [{ ...batch.predictions[0], score: 'high' }] };
    try {
      decodePayload('predictions', Buffer.from(JSON.stringify(bad)));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PdmError);
      expect((err as PdmError).code).toBe('PAYLOAD_INVALID');
      expect((err as PdmError).message).toMatch(/seq/);
      expect((err as PdmError).message).toMatch(/predictions\.0\.score/);
    }
  });

  it('refuses unknown fields and prototype keys', () => {
    expect(codeOf(() => decodePayload('predictions', Buffer.from(JSON.stringify({ ...batch, extra: 1 }))))).toBe('PAYLOAD_INVALID');
    const hostile = `{"__proto__":{"polluted":1},${JSON.stringify(batch).slice(1)}`;
    expect(codeOf(() => decodePayload('predictions', Buffer.from(hostile)))).toBe('PAYLOAD_INVALID');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('refuses a deviceId that differs from the topic', () => {
    expect(codeOf(() => decodePayload('predictions', encodePayload('predictions', batch), 'gw-2'))).toBe('DEVICE_MISMATCH');
  });

  it('throws only PdmErrors, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const code = codeOf(() => decodePayload('predictions', bytes, 'gw-1'));
        expect(code).not.toBe('not-a-PdmError');
      }),
      { numRuns: 500 },
    );
  });

  it('throws only PdmErrors for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const code = codeOf(() => decodePayload('events', Buffer.from(JSON.stringify(value) ?? 'null'), 'gw-1'));
        expect(code).not.toBe('not-a-PdmError');
      }),
      { numRuns: 500 },
    );
  });
});

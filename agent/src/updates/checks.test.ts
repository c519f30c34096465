import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEYSET_PAYLOAD_TYPE, MAX_ENVELOPE_BYTES, signEnvelope, trustedKeysFrom, type Manifest } from '@pdm/protocol';
import { DeployRejected, checkManifest, compareVersions, type CheckContext } from './checks.js';
import { newSigner, signManifest } from './testing.js';

const a = newSigner();
const b = newSigner();
const now = Date.parse('2026-11-26T12:00:00Z');
const manifest: Manifest = {
  schemaVersion: 1,
  deploymentId: 'r1-s1',
  model: { name: 'azure-pdm-failure-24h', version: '1.1.0' },
  release: 5,
  artifacts: [{ name: 'model.onnx', sha256: 'a'.repeat(64), length: 1234 }],
  target: { deviceIds: ['gw-1'], sites: ['plant-a'] },
  mode: 'shadow',
  created: '2026-11-26T10:00:00.000Z',
  expires: '2026-11-27T10:00:00.000Z',
  minAgentVersion: '0.1.0',
};
const keySet = (signers = [a], threshold = 1) => ({
  schemaVersion: 1 as const, version: 1, threshold, keys: signers.map((s) => ({ keyid: s.keyid, publicKeyPem: s.publicKeyPem })), created: manifest.created,
});
const ctx = (over: Partial<CheckContext> = {}): CheckContext => ({
  trusted: trustedKeysFrom(keySet()),
  device: { deviceId: 'gw-1', assetClass: 'pump', site: 'plant-a', agentVersion: '0.1.0' },
  trustedNow: now,
  highWater: () => 4,
  ...over,
});
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

function reason(envelope: Uint8Array, c: CheckContext = ctx()): string {
  try {
    checkManifest(envelope, c);
    return 'ok';
  } catch (err) {
    if (err instanceof DeployRejected) return err.reason;
    throw err;
  }
}

describe('manifest checks in the order of RELIABILITY.md', () => {
  it('accepts a manifest signed by a trusted key, for this device, unexpired, above the high-water mark', () => {
    const env = bytes(signManifest(manifest, [a]));
    expect(reason(env)).toBe('ok');
    expect(checkManifest(env, ctx()).payload.equals(Buffer.from(JSON.stringify(manifest)))).toBe(true);
  });

  it('refuses with the first failing check, each one in turn', () => {
    const over = { ...manifest, target: { deviceIds: ['gw-2'] }, release: 1, expires: '2026-11-26T11:00:00.000Z' };
    // too large beats everything, even an envelope that is not JSON
    expect(reason(Buffer.alloc(MAX_ENVELOPE_BYTES + 1, 0x20))).toBe('too-large');
    expect(reason(bytes(signEnvelope(KEYSET_PAYLOAD_TYPE, bytes(over), [a])))).toBe('payload-type');
    expect(reason(bytes(signManifest(over, [b])))).toBe('signature');
    expect(reason(bytes(signManifest(over, [a])))).toBe('target');
    expect(reason(bytes(signManifest({ ...over, target: manifest.target }, [a])))).toBe('expired');
    expect(reason(bytes(signManifest({ ...manifest, release: 3 }, [a])))).toBe('rollback');
    expect(reason(bytes(signManifest({ ...manifest, release: 4 }, [a])))).toBe('already-installed');
  });

  it('judges expiry against the latest trusted time, not a clock set back', () => {
    const env = bytes(signManifest(manifest, [a]));
    expect(reason(env, ctx({ trustedNow: Date.parse('2026-11-28T00:00:00Z') }))).toBe('expired');
  });

  it('matches every target field given: device ids, asset classes, sites, and the minimum agent version', () => {
    const with_ = (target: Manifest['target'], minAgentVersion = '0.1.0') => reason(bytes(signManifest({ ...manifest, target, minAgentVersion }, [a])));
    expect(with_({ assetClasses: ['pump', 'fan'] })).toBe('ok');
    expect(with_({ assetClasses: ['fan'] })).toBe('target');
    expect(with_({ sites: ['plant-b'] })).toBe('target');
    expect(with_({ deviceIds: ['gw-1'], assetClasses: ['fan'] })).toBe('target');
    expect(with_({ deviceIds: ['gw-1'] }, '0.2.0')).toBe('target');
    expect(compareVersions('0.10.0', '0.9.9')).toBeGreaterThan(0);
  });

  it('needs a threshold of distinct trusted keys', () => {
    const two = ctx({ trusted: trustedKeysFrom(keySet([a, b], 2)) });
    expect(reason(bytes(signManifest(manifest, [a])), two)).toBe('signature');
    expect(reason(bytes(signManifest(manifest, [a, a])), two)).toBe('signature');
    expect(reason(bytes(signManifest(manifest, [a, b])), two)).toBe('ok');
    expect(reason(bytes(signManifest(manifest, [a])), ctx({ trusted: undefined }))).toBe('signature');
  });

  it('never accepts a payload changed in any byte after signing (property)', () => {
    const env = signManifest(manifest, [a]);
    const payload = Buffer.from(env.payload, 'base64');
    fc.assert(
      fc.property(fc.nat({ max: payload.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const changed = Buffer.from(payload);
        changed[at] = changed[at]! ^ flip;
        return reason(bytes({ ...env, payload: changed.toString('base64') })) === 'signature';
      }),
      { numRuns: 200 },
    );
  });

  it('refuses arbitrary input without throwing anything but a rejection (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        const r = reason(Buffer.from(text));
        return r === 'signature' || r === 'payload-type';
      }),
      { numRuns: 200 },
    );
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EnvelopeError, KEYSET_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE, MAX_ENVELOPE_BYTES, keyIdOf, manifestSchema, openEnvelope, pae,
  signEnvelope, type Manifest, type SigningKey, type TrustedKeys,
} from './manifest.js';

function newKey(): SigningKey & { publicKey: ReturnType<typeof generateKeyPairSync>['publicKey'] } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyid: keyIdOf(publicKey), privateKey, publicKey };
}

const manifest: Manifest = {
  schemaVersion: 1,
  deploymentId: 'r1-s1',
  model: { name: 'azure-pdm-failure-24h', version: '1.0.0' },
  release: 3,
  artifacts: [{ name: 'model.onnx', sha256: 'a'.repeat(64), length: 1234 }],
  target: { deviceIds: ['gw-1'] },
  mode: 'shadow',
  created: '2026-11-26T10:00:00.000Z',
  expires: '2026-12-26T10:00:00.000Z',
  minAgentVersion: '0.1.0',
};

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof EnvelopeError ? err.reason : 'other';
  }
  return undefined;
}

describe('signed envelopes', () => {
  const a = newKey();
  const b = newKey();
  const trustA: TrustedKeys = { threshold: 1, keys: new Map([[a.keyid, a.publicKey]]) };
  const payload = Buffer.from(JSON.stringify(manifest));

  it('encodes PAE as DSSE does', () => {
    expect(pae('t', Buffer.from('hello')).toString()).toBe('DSSEv1 1 t 5 hello');
  });

  it('returns the exact bytes that verified', () => {
    const env = signEnvelope(MANIFEST_PAYLOAD_TYPE, payload, [a]);
    const bytes = openEnvelope(Buffer.from(JSON.stringify(env)), MANIFEST_PAYLOAD_TYPE, trustA);
    expect(bytes.equals(payload)).toBe(true);
    expect(manifestSchema.parse(JSON.parse(bytes.toString()))).toEqual(manifest);
  });

  it('refuses an unknown key, a tampered payload, and another payload type', () => {
    const byB = signEnvelope(MANIFEST_PAYLOAD_TYPE, payload, [b]);
    expect(reasonOf(() => openEnvelope(Buffer.from(JSON.stringify(byB)), MANIFEST_PAYLOAD_TYPE, trustA))).toBe('signature');
    const env = signEnvelope(MANIFEST_PAYLOAD_TYPE, payload, [a]);
    const tampered = { ...env, payload: Buffer.from(JSON.stringify({ ...manifest, release: 99 })).toString('base64') };
    expect(reasonOf(() => openEnvelope(Buffer.from(JSON.stringify(tampered)), MANIFEST_PAYLOAD_TYPE, trustA))).toBe('signature');
    const keyset = signEnvelope(KEYSET_PAYLOAD_TYPE, payload, [a]);
    expect(reasonOf(() => openEnvelope(Buffer.from(JSON.stringify(keyset)), MANIFEST_PAYLOAD_TYPE, trustA))).toBe('payload-type');
    // relabelling the type breaks the signature: PAE binds it
    const relabelled = { ...keyset, payloadType: MANIFEST_PAYLOAD_TYPE };
    expect(reasonOf(() => openEnvelope(Buffer.from(JSON.stringify(relabelled)), MANIFEST_PAYLOAD_TYPE, trustA))).toBe('signature');
  });

  it('counts a key once towards the threshold', () => {
    const trust2: TrustedKeys = { threshold: 2, keys: new Map([[a.keyid, a.publicKey], [b.keyid, b.publicKey]]) };
    const twiceA = signEnvelope(MANIFEST_PAYLOAD_TYPE, payload, [a, a]);
    expect(reasonOf(() => openEnvelope(Buffer.from(JSON.stringify(twiceA)), MANIFEST_PAYLOAD_TYPE, trust2))).toBe('signature');
    const both = signEnvelope(MANIFEST_PAYLOAD_TYPE, payload, [a, b]);
    expect(openEnvelope(Buffer.from(JSON.stringify(both)), MANIFEST_PAYLOAD_TYPE, trust2).equals(payload)).toBe(true);
  });

  it('refuses an oversized envelope before parsing it', () => {
    expect(reasonOf(() => openEnvelope(Buffer.alloc(MAX_ENVELOPE_BYTES + 1, 0x20), MANIFEST_PAYLOAD_TYPE, trustA))).toBe('too-large');
  });

  it('validates manifests precisely', () => {
    const bad = manifestSchema.safeParse({ ...manifest, artifacts: [{ name: '../x', sha256: 'zz', length: 0 }] });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['artifacts.0.name', 'artifacts.0.sha256', 'artifacts.0.length']));
  });
});

/**
 * Signed model manifests and key sets: a DSSE-style envelope signed with Ed25519 (node:crypto).
 *
 * The signature covers the pre-authentication encoding PAE(payloadType, payload), so a signature made
 * over another message type (a key set, a command) never verifies as a model manifest. A verifier
 * parses only the exact payload bytes that verified, never a re-serialisation. See RELIABILITY.md
 * (TUF order of checks) for the order in which the agent applies these checks.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { PdmError } from './errors.js';
import { deviceIdSchema, modelRefSchema, nameSchema, timeSchema } from './messages/common.js';

export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.pdm.model-manifest+json;version=1';
export const KEYSET_PAYLOAD_TYPE = 'application/vnd.pdm.keyset+json;version=1';
/** Envelopes are small; anything larger is refused before parsing (check 1). */
export const MAX_ENVELOPE_BYTES = 64 * 1024;

const base64 = z.string().max(MAX_ENVELOPE_BYTES * 2).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const keyIdSchema = z.string().regex(/^[0-9a-f]{16,64}$/, 'hex key id');

export const envelopeSchema = z.strictObject({
  payloadType: z.string().min(1).max(256),
  payload: base64,
  signatures: z.array(z.strictObject({ keyid: keyIdSchema, sig: base64 })).min(1).max(8),
});
export type Envelope = z.infer<typeof envelopeSchema>;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 hex');

export const artifactSchema = z.strictObject({
  /** File name inside the model directory, e.g. model.onnx or card.json. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a plain file name'),
  sha256: sha256Hex,
  length: z.number().int().min(1).max(2 * 1024 ** 3),
});
export type Artifact = z.infer<typeof artifactSchema>;

export const deploymentModeSchema = z.enum(['shadow', 'alert', 'act']);
export type DeploymentMode = z.infer<typeof deploymentModeSchema>;

export const targetSchema = z
  .strictObject({
    deviceIds: z.array(deviceIdSchema).max(10_000).optional(),
    assetClasses: z.array(nameSchema).max(100).optional(),
    sites: z.array(nameSchema).max(100).optional(),
  })
  .refine((t) => t.deviceIds !== undefined || t.assetClasses !== undefined || t.sites !== undefined, {
    message: 'a target names devices, asset classes or sites',
  });
export type Target = z.infer<typeof targetSchema>;

const semver = z.string().regex(/^\d+\.\d+\.\d+$/, 'x.y.z');

export const manifestSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    deploymentId: z.string().min(1).max(128),
    model: modelRefSchema,
    /** Strictly increasing per model name; a device never accepts a lower or equal one. */
    release: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    artifacts: z.array(artifactSchema).min(1).max(16),
    target: targetSchema,
    mode: deploymentModeSchema,
    created: timeSchema,
    expires: timeSchema,
    minAgentVersion: semver,
  })
  .refine((m) => m.artifacts.some((a) => a.name === 'model.onnx'), { message: 'artifacts must include model.onnx', path: ['artifacts'] })
  .refine((m) => new Set(m.artifacts.map((a) => a.name)).size === m.artifacts.length, { message: 'artifact names must be unique', path: ['artifacts'] })
  .refine((m) => Date.parse(m.expires) > Date.parse(m.created), { message: 'expires must be after created', path: ['expires'] });
export type Manifest = z.infer<typeof manifestSchema>;

export const keySetSchema = z.strictObject({
  schemaVersion: z.literal(1),
  /** Strictly increasing; a device never goes back to an older key set. */
  version: z.number().int().min(1),
  threshold: z.number().int().min(1).max(8),
  keys: z.array(z.strictObject({ keyid: keyIdSchema, publicKeyPem: z.string().min(1).max(4096) })).min(1).max(8),
  created: timeSchema,
});
export type KeySet = z.infer<typeof keySetSchema>;

/** DSSE pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** Key id: the first 16 bytes of sha256 over the public key's SPKI DER, hex. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 32);
}

export interface SigningKey {
  keyid: string;
  privateKey: KeyObject;
}

export function signEnvelope(payloadType: string, payload: Uint8Array, keys: readonly SigningKey[]): Envelope {
  const message = pae(payloadType, payload);
  return {
    payloadType,
    payload: Buffer.from(payload).toString('base64'),
    signatures: keys.map((k) => ({ keyid: k.keyid, sig: sign(null, message, k.privateKey).toString('base64') })),
  };
}

export interface TrustedKeys {
  threshold: number;
  keys: ReadonlyMap<string, KeyObject>;
}

export function trustedKeysFrom(keySet: KeySet): TrustedKeys {
  return {
    threshold: keySet.threshold,
    keys: new Map(keySet.keys.map((k) => [k.keyid, createPublicKey(k.publicKeyPem)])),
  };
}

export type EnvelopeRejection = 'too-large' | 'payload-type' | 'signature';

export class EnvelopeError extends PdmError {
  constructor(readonly reason: EnvelopeRejection, message: string) {
    super('MANIFEST_REJECTED', message, { context: { reason } });
  }
}

/**
 * Checks 1-3 of the TUF order: size cap, payload type, signatures by at least `threshold` distinct
 * trusted keys. Returns the exact payload bytes that verified.
 */
export function openEnvelope(bytes: Uint8Array, expectedType: string, trusted: TrustedKeys): Buffer {
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) {
    throw new EnvelopeError('too-large', `envelope of ${bytes.byteLength} bytes exceeds ${MAX_ENVELOPE_BYTES}`);
  }
  let envelope: Envelope;
  try {
    envelope = envelopeSchema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch {
    throw new EnvelopeError('signature', 'envelope is not a well-formed signed envelope');
  }
  if (envelope.payloadType !== expectedType) {
    throw new EnvelopeError('payload-type', `payload type is not ${expectedType}`);
  }
  const payload = Buffer.from(envelope.payload, 'base64');
  const message = pae(envelope.payloadType, payload);
  const verifiedBy = new Set<string>();
  for (const { keyid, sig } of envelope.signatures) {
    const key = trusted.keys.get(keyid);
    if (key === undefined || verifiedBy.has(keyid)) continue;
    if (verify(null, message, key, Buffer.from(sig, 'base64'))) verifiedBy.add(keyid);
  }
  if (verifiedBy.size < trusted.threshold) {
    throw new EnvelopeError('signature', `${verifiedBy.size} of ${trusted.threshold} required trusted signatures verified`);
  }
  return payload;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

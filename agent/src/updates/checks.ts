/**
 * The checks a signed deployment manifest goes through, in the order of RELIABILITY.md (TUF), stopping
 * at the first failure: size cap, payload type, signature (threshold of trusted keys), target, expiry,
 * release above the high-water mark. Only the exact bytes that verified are parsed. The download-time
 * checks (disk, length, sha256) follow in the deployer; every refusal is a DeployRejected carrying the
 * `rejected:<reason>` the controller is told.
 */
import {
  EnvelopeError, MANIFEST_PAYLOAD_TYPE, MAX_ENVELOPE_BYTES, PdmError, describeIssues, manifestSchema, openEnvelope, rejectReasons, type Manifest,
  type TrustedKeys,
} from '@pdm/protocol';

export type RejectReason = (typeof rejectReasons)[number];

/** A refusal: the message (the reply's) starts with `rejected:<reason>`; `detail` goes in the record. */
export class DeployRejected extends PdmError {
  constructor(readonly reason: RejectReason, readonly detail: string, context: Record<string, unknown> = {}) {
    super('MANIFEST_REJECTED', `rejected:${reason}: ${detail}`, { context: { reason, ...context } });
  }
}

export interface DeviceFacts {
  readonly deviceId: string;
  readonly assetClass: string;
  readonly site: string;
  readonly agentVersion: string;
}

export interface CheckContext {
  readonly trusted: TrustedKeys | undefined;
  readonly device: DeviceFacts;
  /** max(wall clock, newest trusted manifest time): a clock set back cannot revive an expired manifest. */
  readonly trustedNow: number;
  /** Highest release installed (or named by the pointer) for a model name. */
  readonly highWater: (modelName: string) => number;
}

export interface VerifiedManifest {
  readonly manifest: Manifest;
  /** The exact payload bytes that verified. */
  readonly payload: Buffer;
}

/** Checks 1-3: returns the verified payload bytes, parsed as a manifest. */
export function verifyManifest(envelopeBytes: Uint8Array, trusted: TrustedKeys | undefined): VerifiedManifest {
  if (trusted === undefined) {
    // still refuse oversized input first, so the order of checks holds without keys too
    if (envelopeBytes.byteLength > MAX_ENVELOPE_BYTES) throw new DeployRejected('too-large', 'envelope exceeds the size cap');
    throw new DeployRejected('signature', 'no trusted keys are configured on this device');
  }
  let payload: Buffer;
  try {
    payload = openEnvelope(envelopeBytes, MANIFEST_PAYLOAD_TYPE, trusted);
  } catch (err) {
    if (err instanceof EnvelopeError) throw new DeployRejected(err.reason, err.message);
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new DeployRejected('payload-type', 'signed payload is not JSON');
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new DeployRejected('payload-type', `signed payload is not a valid manifest: ${describeIssues(parsed.error, 3)}`);
  return { manifest: parsed.data, payload };
}

/** Checks 4-6 on a verified manifest. */
export function checkApplicable(manifest: Manifest, ctx: Omit<CheckContext, 'trusted'>): void {
  const problem = targetProblem(manifest, ctx.device);
  if (problem !== undefined) throw new DeployRejected('target', problem);
  if (Date.parse(manifest.expires) <= ctx.trustedNow) {
    throw new DeployRejected('expired', `manifest expired at ${manifest.expires}`, { trustedNow: new Date(ctx.trustedNow).toISOString() });
  }
  const highWater = ctx.highWater(manifest.model.name);
  if (manifest.release < highWater) {
    throw new DeployRejected('rollback', `release ${manifest.release} is below ${highWater}, the highest installed for ${manifest.model.name}`);
  }
  if (manifest.release === highWater) {
    throw new DeployRejected('already-installed', `release ${manifest.release} of ${manifest.model.name} is already installed`);
  }
}

/** Every check before the download, in order. */
export function checkManifest(envelopeBytes: Uint8Array, ctx: CheckContext): VerifiedManifest {
  const verified = verifyManifest(envelopeBytes, ctx.trusted);
  checkApplicable(verified.manifest, ctx);
  return verified;
}

/**
 * A target names device ids, asset classes and/or sites; each list given must contain this device's
 * value (lists are alternatives, fields are all required). The manifest's minimum agent version is
 * part of the target: an agent too old to run the deployment is not one it is meant for.
 */
function targetProblem(manifest: Manifest, device: DeviceFacts): string | undefined {
  const { deviceIds, assetClasses, sites } = manifest.target;
  if (deviceIds !== undefined && !deviceIds.includes(device.deviceId)) return 'this device is not in target.deviceIds';
  if (assetClasses !== undefined && !assetClasses.includes(device.assetClass)) return `asset class ${device.assetClass} is not in target.assetClasses`;
  if (sites !== undefined && !sites.includes(device.site)) return `site ${device.site} is not in target.sites`;
  if (compareVersions(device.agentVersion, manifest.minAgentVersion) < 0) {
    return `agent ${device.agentVersion} is older than minAgentVersion ${manifest.minAgentVersion}`;
  }
  return undefined;
}

/** Compares x.y.z versions numerically. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

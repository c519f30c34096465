/**
 * What the device trusts, kept in `<dataDir>/trust.json` (written atomically): the key set that signs
 * manifests, the highest release installed per model name (the anti-rollback high-water mark), and the
 * newest `created` time of an installed manifest (clock-skew defence: expiry is judged against the
 * later of the wall clock and that time).
 *
 * The configured keys (`trust` in the agent config) seed the file on first start. Afterwards only a
 * key set signed by a threshold of the currently trusted keys, with a higher version, replaces them
 * (`trust-keys`); a configured set with a higher version than the stored one also wins, since only
 * someone with access to the device's configuration can put it there.
 */
import { createPublicKey } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  KEYSET_PAYLOAD_TYPE, PdmError, keyIdOf, keySetSchema, openEnvelope, timeSchema, trustedKeysFrom, type KeySet, type Manifest,
  type TrustedKeys,
} from '@pdm/protocol';
import { readJsonFile, writeJsonAtomic } from '../store/atomic.js';
import { DeployRejected } from './checks.js';

const trustFileSchema = z.strictObject({
  schemaVersion: z.literal(1),
  keySet: keySetSchema.optional(),
  /** Highest release ever installed, per model name. */
  highWater: z.record(z.string().min(1).max(128), z.number().int().min(1)),
  /** Newest `created` of an installed manifest. */
  trustedTime: timeSchema.optional(),
});
export type TrustFile = z.infer<typeof trustFileSchema>;

export interface TrustStoreDeps {
  readonly file: string;
  /** The key set from the agent configuration, if any. */
  readonly configured: KeySet | undefined;
  readonly log: Logger;
}

export class TrustStore {
  private state: TrustFile = { schemaVersion: 1, highWater: {} };
  private keys: TrustedKeys | undefined;

  constructor(private readonly deps: TrustStoreDeps) {}

  /** Reads the file (or seeds it from the configuration) and checks every key parses and matches its id. */
  start(): void {
    const stored = readJsonFile(this.deps.file, trustFileSchema);
    const configured = this.deps.configured;
    let state: TrustFile = stored ?? { schemaVersion: 1, highWater: {} };
    if (configured !== undefined && (state.keySet === undefined || configured.version > state.keySet.version)) {
      state = { ...state, keySet: configured };
    }
    this.keys = state.keySet === undefined ? undefined : checkedKeys(state.keySet);
    this.state = state;
    if (stored === undefined || stored.keySet !== state.keySet) this.persist();
  }

  trusted(): TrustedKeys | undefined {
    return this.keys;
  }

  keySetVersion(): number {
    return this.state.keySet?.version ?? 0;
  }

  highWater(modelName: string): number {
    return this.state.highWater[modelName] ?? 0;
  }

  trustedTime(): number {
    return this.state.trustedTime === undefined ? 0 : Date.parse(this.state.trustedTime);
  }

  /** Moves the high-water mark and the trusted time forward after a version was installed. */
  recordInstall(manifest: Manifest): void {
    const highWater = Math.max(this.highWater(manifest.model.name), manifest.release);
    const created = Math.max(this.trustedTime(), Date.parse(manifest.created));
    if (highWater === this.highWater(manifest.model.name) && created === this.trustedTime()) return;
    this.state = {
      ...this.state,
      highWater: { ...this.state.highWater, [manifest.model.name]: highWater },
      trustedTime: new Date(created).toISOString(),
    };
    this.persist();
  }

  /**
   * `trust-keys`: opens the envelope with the current keys (threshold), parses only the verified bytes,
   * and accepts the key set only with a higher version. Throws DeployRejected with the reason.
   */
  rotate(envelopeBytes: Uint8Array): KeySet {
    if (this.keys === undefined) throw new DeployRejected('signature', 'no trusted keys are configured');
    const payload = openEnvelopeChecked(envelopeBytes, this.keys);
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      throw new DeployRejected('payload-type', 'signed payload is not JSON');
    }
    const parsed = keySetSchema.safeParse(json);
    if (!parsed.success) throw new DeployRejected('payload-type', 'signed payload is not a valid key set');
    const next = parsed.data;
    if (next.version <= this.keySetVersion()) {
      throw new DeployRejected(next.version === this.keySetVersion() ? 'already-installed' : 'rollback', `key set version ${next.version} is not above ${this.keySetVersion()}`);
    }
    let keys: TrustedKeys;
    try {
      keys = checkedKeys(next);
    } catch (err) {
      throw new DeployRejected('payload-type', (err as Error).message);
    }
    this.state = { ...this.state, keySet: next };
    this.keys = keys;
    this.persist();
    this.deps.log.info({ version: next.version, keyids: next.keys.map((k) => k.keyid), threshold: next.threshold }, 'trusted keys rotated');
    return next;
  }

  private persist(): void {
    writeJsonAtomic(this.deps.file, this.state);
  }
}

function openEnvelopeChecked(bytes: Uint8Array, keys: TrustedKeys): Buffer {
  try {
    return openEnvelope(bytes, KEYSET_PAYLOAD_TYPE, keys);
  } catch (err) {
    const reason = (err as { reason?: unknown }).reason;
    if (reason === 'too-large' || reason === 'payload-type' || reason === 'signature') throw new DeployRejected(reason, (err as Error).message);
    throw err;
  }
}

/** The trusted keys of a key set, after checking each is an Ed25519 key with the id it claims. */
function checkedKeys(keySet: KeySet): TrustedKeys {
  if (keySet.threshold > keySet.keys.length) {
    throw new PdmError('CONFIG_INVALID', `key set threshold ${keySet.threshold} exceeds its ${keySet.keys.length} keys`);
  }
  for (const k of keySet.keys) {
    let actual: string;
    try {
      const key = createPublicKey(k.publicKeyPem);
      if (key.asymmetricKeyType !== 'ed25519') throw new PdmError('CONFIG_INVALID', 'not an Ed25519 key');
      actual = keyIdOf(key);
    } catch (cause) {
      throw new PdmError('CONFIG_INVALID', `key ${k.keyid} is not an Ed25519 public key in PEM`, { cause, context: { keyid: k.keyid } });
    }
    if (actual !== k.keyid) throw new PdmError('CONFIG_INVALID', `key id ${k.keyid} does not match its key (${actual})`, { context: { keyid: k.keyid } });
  }
  return trustedKeysFrom(keySet);
}

/**
 * Signs deployment manifests. Each one gets the next release of its model name, allocated in the same
 * transaction that stores the manifest, with synchronous=FULL for that transaction: a release a device
 * may already have seen must never be handed out twice, not even after a power cut. The counter also
 * never goes below a release any device reported (registry-repo.ts). A promotion or a rollback is
 * simply a new manifest: same or older bytes, a higher release.
 */
import { randomBytes } from 'node:crypto';
import {
  MANIFEST_PAYLOAD_TYPE, PdmError, envelopeSchema, manifestSchema, type DeploymentMode, type Envelope, type Manifest, type ModelRef, type Target,
} from '@pdm/protocol';
import { isoTime, type Clock } from '../clock.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { Registry } from './registry.js';
import type { SigningKeys } from './signing-keys.js';

export interface ManifestSignerOptions {
  /** How long a manifest stays valid after it is signed. */
  ttlMs: number;
  minAgentVersion: string;
}

export type ManifestPurpose = 'stage' | 'join' | 'rollback';

export interface ManifestRequest {
  model: ModelRef;
  mode: DeploymentMode;
  target: Target;
  purpose: ManifestPurpose;
  rolloutId?: string | undefined;
}

export interface SignedManifest {
  deploymentId: string;
  manifest: Manifest;
  envelope: Envelope;
  purpose: ManifestPurpose;
  rolloutId: string | null;
  expiresAt: number;
}

/** Parsed stored manifests kept in memory, at most. */
const PARSED_CACHE = 1024;

type Row = { deployment_id: string; envelope: string; purpose: ManifestPurpose; rollout_id: string | null; expires_at: number };

export class ManifestSigner {
  readonly #options: ManifestSignerOptions;
  readonly #database: Database;
  readonly #registry: Registry;
  readonly #keys: SigningKeys;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #parsed = new Map<string, SignedManifest>();

  constructor(options: ManifestSignerOptions, database: Database, registry: Registry, keys: SigningKeys, clock: Clock, log: Logger) {
    this.#options = options;
    this.#database = database;
    this.#registry = registry;
    this.#keys = keys;
    this.#clock = clock;
    this.#log = log;
  }

  sign(req: ManifestRequest): SignedManifest {
    const version = this.#registry.releasable(req.model.name, req.model.version);
    const db = this.#database.handle;
    const now = this.#clock.now();
    const expiresAt = now + this.#options.ttlMs;
    db.pragma('synchronous = FULL');
    try {
      return db.transaction(() => {
        const repo = this.#registry.repo;
        const release = Math.max(repo.lastRelease(req.model.name), repo.highestReported(req.model.name), this.#highestSigned(req.model.name)) + 1;
        const deploymentId = `${req.rolloutId ?? `dep-${randomBytes(4).toString('hex')}`}-r${release}`;
        const manifest = manifestSchema.parse({
          schemaVersion: 1, deploymentId, model: { name: version.name, version: version.version }, release,
          artifacts: version.artifacts, target: req.target, mode: req.mode,
          created: isoTime(now), expires: isoTime(expiresAt), minAgentVersion: this.#options.minAgentVersion,
        });
        const envelope = this.#keys.sign(MANIFEST_PAYLOAD_TYPE, Buffer.from(JSON.stringify(manifest), 'utf8'));
        repo.setLastRelease(req.model.name, release);
        db.prepare(`INSERT INTO manifests (deployment_id, model_name, model_version, release, mode, target, rollout_id, purpose, envelope,
          created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
          deploymentId, manifest.model.name, manifest.model.version, release, manifest.mode, JSON.stringify(manifest.target),
          req.rolloutId ?? null, req.purpose, JSON.stringify(envelope), now, expiresAt,
        );
        this.#log.info({ deploymentId, model: manifest.model, release, mode: manifest.mode, purpose: req.purpose, keyid: this.#keys.keyid }, 'manifest signed');
        return { deploymentId, manifest, envelope, purpose: req.purpose, rolloutId: req.rolloutId ?? null, expiresAt };
      })();
    } finally {
      db.pragma('synchronous = NORMAL');
    }
  }

  get(deploymentId: string): SignedManifest | undefined {
    const cached = this.#parsed.get(deploymentId);
    if (cached !== undefined) return cached;
    const row = this.#database.handle.prepare('SELECT deployment_id, envelope, purpose, rollout_id, expires_at FROM manifests WHERE deployment_id = ?')
      .get(deploymentId) as Row | undefined;
    if (row === undefined) return undefined;
    const signed = toSigned(row);
    // a stored manifest never changes; parsing one that names a whole stage's devices on every engine tick, for
    // every device, made the tick O(devices^2) (bench:rollout). Bounded: cleared when it fills.
    if (this.#parsed.size >= PARSED_CACHE) this.#parsed.clear();
    this.#parsed.set(deploymentId, signed);
    return signed;
  }

  #highestSigned(name: string): number {
    return (this.#database.handle.prepare('SELECT MAX(release) FROM manifests WHERE model_name = ?').pluck().get(name) as number | null) ?? 0;
  }
}

/** Reads back a stored manifest; the payload is the exact bytes that were signed. */
function toSigned(row: Row): SignedManifest {
  const envelope = envelopeSchema.parse(JSON.parse(row.envelope));
  const manifest = manifestSchema.safeParse(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')));
  if (!manifest.success) throw new PdmError('INTERNAL', 'stored manifest does not parse', { context: { deploymentId: row.deployment_id } });
  return { deploymentId: row.deployment_id, manifest: manifest.data, envelope, purpose: row.purpose, rolloutId: row.rollout_id, expiresAt: row.expires_at };
}

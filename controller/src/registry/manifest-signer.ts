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
import { type Database, writeTransaction } from '../db/database.js';
import { statementCache, type Prepare } from '../db/statements.js';
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

/** Parsed stored manifests kept in memory, at most (one per device of a rollout: ~2 KB each). */
const PARSED_CACHE = 8192;

type Row = { deployment_id: string; envelope: string; purpose: ManifestPurpose; rollout_id: string | null; expires_at: number };

export class ManifestSigner {
  readonly #options: ManifestSignerOptions;
  readonly #database: Database;
  readonly #registry: Registry;
  readonly #keys: SigningKeys;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #parsed = new Map<string, SignedManifest>();
  #prepare: Prepare | undefined;

  constructor(options: ManifestSignerOptions, database: Database, registry: Registry, keys: SigningKeys, clock: Clock, log: Logger) {
    this.#options = options;
    this.#database = database;
    this.#registry = registry;
    this.#keys = keys;
    this.#clock = clock;
    this.#log = log;
  }

  /** The database opens after the parts are built: statements are prepared on first use. */
  get #sql(): Prepare {
    return (this.#prepare ??= statementCache(this.#database.handle));
  }

  sign(req: ManifestRequest): SignedManifest {
    return this.signMany([req])[0]!;
  }

  /**
   * Signs several manifests in one transaction (one fsync): a stage signs one per device, so that a
   * deploy command stays small whatever the stage's size and a manifest names only its device.
   */
  signMany(reqs: readonly ManifestRequest[]): SignedManifest[] {
    const versions = reqs.map((req) => this.#registry.releasable(req.model.name, req.model.version));
    const db = this.#database.handle;
    const now = this.#clock.now();
    db.pragma('synchronous = FULL');
    try {
      return writeTransaction(db, () => {
        // the floor is read once per model name (it scans every device's reported models): releases
        // within the transaction follow one another, and nothing else signs meanwhile
        const last = new Map<string, number>();
        return reqs.map((req, i) => {
          const release = (last.get(req.model.name) ?? this.#releaseFloor(req.model.name)) + 1;
          last.set(req.model.name, release);
          return this.#signOne(req, versions[i]!, release, now);
        });
      })();
    } finally {
      db.pragma('synchronous = NORMAL');
    }
  }

  /** Inside the transaction: the signed envelope of the given release, and its stored row. */
  #signOne(req: ManifestRequest, version: ReturnType<Registry['releasable']>, release: number, now: number): SignedManifest {
    const expiresAt = now + this.#options.ttlMs;
    const repo = this.#registry.repo;
    const deploymentId = `${req.rolloutId ?? `dep-${randomBytes(4).toString('hex')}`}-r${release}`;
    const manifest = manifestSchema.parse({
      schemaVersion: 1, deploymentId, model: { name: version.name, version: version.version }, release,
      artifacts: version.artifacts, target: req.target, mode: req.mode,
      created: isoTime(now), expires: isoTime(expiresAt), minAgentVersion: this.#options.minAgentVersion,
    });
    const envelope = this.#keys.sign(MANIFEST_PAYLOAD_TYPE, Buffer.from(JSON.stringify(manifest), 'utf8'));
    repo.setLastRelease(req.model.name, release);
    this.#sql(`INSERT INTO manifests (deployment_id, model_name, model_version, release, mode, target, rollout_id, purpose, envelope,
      created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      deploymentId, manifest.model.name, manifest.model.version, release, manifest.mode, JSON.stringify(manifest.target),
      req.rolloutId ?? null, req.purpose, JSON.stringify(envelope), now, expiresAt,
    );
    this.#log.info({ deploymentId, model: manifest.model, release, mode: manifest.mode, purpose: req.purpose, keyid: this.#keys.keyid }, 'manifest signed');
    const signed = { deploymentId, manifest, envelope, purpose: req.purpose, rolloutId: req.rolloutId ?? null, expiresAt };
    this.#remember(signed);
    return signed;
  }

  get(deploymentId: string): SignedManifest | undefined {
    const cached = this.#parsed.get(deploymentId);
    if (cached !== undefined) return cached;
    const row = this.#sql('SELECT deployment_id, envelope, purpose, rollout_id, expires_at FROM manifests WHERE deployment_id = ?')
      .get(deploymentId) as Row | undefined;
    if (row === undefined) return undefined;
    const signed = toSigned(row);
    this.#remember(signed);
    return signed;
  }

  /**
   * A stored manifest never changes; the engine reads each device's on every tick (bench:rollout: parsing
   * them again was O(devices^2) with stage manifests). Bounded: the oldest is forgotten first.
   */
  #remember(signed: SignedManifest): void {
    this.#parsed.delete(signed.deploymentId);
    this.#parsed.set(signed.deploymentId, signed);
    for (const [oldest] of this.#parsed) {
      if (this.#parsed.size <= PARSED_CACHE) break;
      this.#parsed.delete(oldest);
    }
  }

  /** The highest release handed out or seen for a model name: the next one is above it. */
  #releaseFloor(name: string): number {
    const repo = this.#registry.repo;
    return Math.max(repo.lastRelease(name), repo.highestReported(name), this.#highestSigned(name));
  }

  #highestSigned(name: string): number {
    return (this.#sql('SELECT MAX(release) FROM manifests WHERE model_name = ?').pluck().get(name) as number | null) ?? 0;
  }
}

/** Reads back a stored manifest; the payload is the exact bytes that were signed. */
function toSigned(row: Row): SignedManifest {
  const envelope = envelopeSchema.parse(JSON.parse(row.envelope));
  const manifest = manifestSchema.safeParse(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')));
  if (!manifest.success) throw new PdmError('INTERNAL', 'stored manifest does not parse', { context: { deploymentId: row.deployment_id } });
  return { deploymentId: row.deployment_id, manifest: manifest.data, envelope, purpose: row.purpose, rolloutId: row.rollout_id, expiresAt: row.expires_at };
}

/** SQL over `device_credentials` (migration 007): one row per enrolled device, hashes only. */
import { isoTime } from '../clock.js';
import type { Database } from '../db/database.js';

export type CredentialState = 'active' | 'revoked';

/** What an enrolled device is, without its secret. */
export interface DeviceIdentity {
  deviceId: string;
  assetId: string;
  assetClass: string;
  site: string;
  tags: string[];
  state: CredentialState;
  generation: number;
  enrolledAt: string;
  updatedAt: string;
  revokedAt: string | null;
}

export interface IdentityFields {
  assetId: string;
  assetClass: string;
  site: string;
  tags: readonly string[];
}

interface Row {
  device_id: string;
  asset_id: string;
  asset_class: string;
  site: string;
  tags: string;
  secret_hash: string;
  state: CredentialState;
  generation: number;
  enrolled_at: number;
  updated_at: number;
  revoked_at: number | null;
}

export class CredentialsRepo {
  readonly #database: Database;

  constructor(database: Database) {
    this.#database = database;
  }

  get(deviceId: string): DeviceIdentity | undefined {
    const row = this.#row(deviceId);
    return row === undefined ? undefined : toIdentity(row);
  }

  /** The stored hash of an active device; undefined when unknown or revoked. */
  activeHash(deviceId: string): string | undefined {
    const row = this.#row(deviceId);
    return row?.state === 'active' ? row.secret_hash : undefined;
  }

  list(filter: { state?: CredentialState | undefined; tag?: string | undefined } = {}): DeviceIdentity[] {
    const rows = this.#database.handle.prepare('SELECT * FROM device_credentials ORDER BY device_id').all() as Row[];
    return rows.map(toIdentity).filter((d) => (filter.state === undefined || d.state === filter.state)
      && (filter.tag === undefined || d.tags.includes(filter.tag)));
  }

  /** Inserts a new identity, or replaces a revoked one (a new generation); the caller checks it may. */
  upsert(deviceId: string, fields: IdentityFields, secretHash: string, generation: number, at: number): void {
    this.#database.handle.prepare(`INSERT INTO device_credentials
        (device_id, asset_id, asset_class, site, tags, secret_hash, state, generation, enrolled_at, updated_at, revoked_at)
      VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, NULL)
      ON CONFLICT (device_id) DO UPDATE SET asset_id = excluded.asset_id, asset_class = excluded.asset_class,
        site = excluded.site, tags = excluded.tags, secret_hash = excluded.secret_hash, state = 'active',
        generation = excluded.generation, enrolled_at = excluded.enrolled_at, updated_at = excluded.updated_at, revoked_at = NULL`)
      .run(deviceId, fields.assetId, fields.assetClass, fields.site, JSON.stringify(normalTags(fields.tags)), secretHash, generation, at, at);
  }

  replaceSecret(deviceId: string, secretHash: string, generation: number, at: number): void {
    this.#database.handle.prepare('UPDATE device_credentials SET secret_hash = ?, generation = ?, updated_at = ? WHERE device_id = ?')
      .run(secretHash, generation, at, deviceId);
  }

  revoke(deviceId: string, at: number): void {
    this.#database.handle.prepare("UPDATE device_credentials SET state = 'revoked', revoked_at = ?, updated_at = ? WHERE device_id = ?")
      .run(at, at, deviceId);
  }

  #row(deviceId: string): Row | undefined {
    return this.#database.handle.prepare('SELECT * FROM device_credentials WHERE device_id = ?').get(deviceId) as Row | undefined;
  }
}

function normalTags(tags: readonly string[]): string[] {
  return [...new Set(tags)].sort();
}

function toIdentity(r: Row): DeviceIdentity {
  return {
    deviceId: r.device_id, assetId: r.asset_id, assetClass: r.asset_class, site: r.site, tags: JSON.parse(r.tags) as string[],
    state: r.state, generation: r.generation, enrolledAt: isoTime(r.enrolled_at), updatedAt: isoTime(r.updated_at),
    revokedAt: r.revoked_at === null ? null : isoTime(r.revoked_at),
  };
}

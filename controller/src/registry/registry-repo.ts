/** SQL of the registry: artifacts, model versions with their cards, release counters. */
import type { Db } from '../db/database.js';

export interface VersionRow {
  name: string;
  version: string;
  model_sha256: string;
  model_length: number;
  card_sha256: string;
  card_length: number;
  card: string;
  variant: string;
  published_at: number;
  published_by: string;
  reason: string | null;
}

export interface NewVersion {
  name: string;
  version: string;
  model: { sha256: string; length: number };
  card: { sha256: string; length: number; json: string };
  variant: string;
  at: number;
  by: string;
  reason: string | null;
}

export class RegistryRepo {
  constructor(private readonly db: Db) {}

  version(name: string, version: string): VersionRow | undefined {
    return this.db.prepare('SELECT * FROM model_versions WHERE name = ? AND version = ?').get(name, version) as VersionRow | undefined;
  }

  /** Versions of one model, newest published first. */
  versions(name: string): VersionRow[] {
    return this.db.prepare('SELECT * FROM model_versions WHERE name = ? ORDER BY published_at DESC, version DESC').all(name) as VersionRow[];
  }

  names(): { name: string; versions: number; latest_at: number }[] {
    return this.db.prepare(`SELECT name, COUNT(*) AS versions, MAX(published_at) AS latest_at FROM model_versions
      GROUP BY name ORDER BY name`).all() as { name: string; versions: number; latest_at: number }[];
  }

  insert(v: NewVersion): void {
    const artifact = this.db.prepare('INSERT OR IGNORE INTO artifacts (sha256, length, stored_at) VALUES (?, ?, ?)');
    artifact.run(v.model.sha256, v.model.length, v.at);
    artifact.run(v.card.sha256, v.card.length, v.at);
    this.db.prepare(`INSERT INTO model_versions (name, version, model_sha256, model_length, card_sha256, card_length, card, variant,
      published_at, published_by, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(v.name, v.version, v.model.sha256, v.model.length, v.card.sha256, v.card.length, v.card.json, v.variant, v.at, v.by, v.reason);
  }

  /** Length of a registered artifact, or undefined when the registry does not hold it. */
  artifactLength(sha: string): number | undefined {
    return this.db.prepare('SELECT length FROM artifacts WHERE sha256 = ?').pluck().get(sha) as number | undefined;
  }

  lastRelease(name: string): number {
    return (this.db.prepare('SELECT last_release FROM model_releases WHERE name = ?').pluck().get(name) as number | undefined) ?? 0;
  }

  /**
   * The highest release any device reported for a model name (status models[].release). A controller
   * whose database lost its last transactions (power cut) or was restored from a backup must still
   * count past what devices already installed, or they would refuse everything it signs.
   */
  highestReported(name: string): number {
    const v = this.db.prepare(`SELECT MAX(json_extract(m.value, '$.release')) FROM devices, json_each(devices.models) AS m
      WHERE json_extract(m.value, '$.name') = ?`).pluck().get(name) as number | null;
    return v ?? 0;
  }

  setLastRelease(name: string, release: number): void {
    this.db.prepare(`INSERT INTO model_releases (name, last_release) VALUES (?, ?)
      ON CONFLICT (name) DO UPDATE SET last_release = excluded.last_release`).run(name, release);
  }
}

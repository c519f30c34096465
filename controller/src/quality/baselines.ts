/**
 * Baselines a version's measured quality is compared with: the precision and recall its model card
 * states (the registry's copy of the card, or a directory of cards laid out as
 * <dir>/<name>/<version>/card.json, e.g. models/artifacts), and the measured quality of the previous
 * version of the same model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelCardSchema, type ModelCard } from '@pdm/protocol';
import type { Db } from '../db/database.js';

export interface CardMetrics {
  precision: number | null;
  recall: number | null;
}

/** The card metrics that mean the same as the controller's: hour-level (prediction-level) precision and recall. */
export const CARD_PRECISION = 'hour.precision';
export const CARD_RECALL = 'hour.recall';

export class CardBaselines {
  readonly #db: Db;
  readonly #dir: string | undefined;
  readonly #cache = new Map<string, ModelCard | null>();

  constructor(db: Db, cardsDir?: string) {
    this.#db = db;
    this.#dir = cardsDir;
  }

  card(name: string, version: string): ModelCard | undefined {
    const key = `${name}\u0000${version}`;
    if (!this.#cache.has(key)) this.#cache.set(key, this.#load(name, version) ?? null);
    return this.#cache.get(key) ?? undefined;
  }

  metrics(name: string, version: string): CardMetrics {
    const metrics = this.card(name, version)?.metrics ?? {};
    return { precision: metrics[CARD_PRECISION]?.value ?? null, recall: metrics[CARD_RECALL]?.value ?? null };
  }

  #load(name: string, version: string): ModelCard | undefined {
    const fromRegistry = this.#db.prepare('SELECT card FROM model_versions WHERE name = ? AND version = ?').pluck().get(name, version) as string | undefined;
    const text = fromRegistry ?? this.#fromDir(name, version);
    if (text === undefined) return undefined;
    const parsed = modelCardSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  }

  #fromDir(name: string, version: string): string | undefined {
    if (this.#dir === undefined || name.includes('/') || version.includes('/') || name.startsWith('.')) return undefined;
    const file = join(this.#dir, name, version, 'card.json');
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }
}

/**
 * Orders versions like semver where they look like it (1.10.0 after 1.9.0), then by the rest as text:
 * "1.1.0-degraded" sorts after "1.0.0" and before "1.2.0".
 */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.+-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x).localeCompare(String(y));
  }
  return 0;
}

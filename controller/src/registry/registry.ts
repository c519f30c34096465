/**
 * The model registry: accepts a model version (ONNX bytes plus its model card) only when the card
 * matches the model card schema, names the same model and version, and the ONNX file loads in
 * onnxruntime and fits the card's feature spec; stores both files content-addressed; lists and shows
 * versions. Publishing the same bytes again is a no-op; other bytes under a published version are a
 * CONFLICT (a version names one thing forever, or rollbacks could not point at "the old bytes").
 */
import { join } from 'node:path';
import { PdmError, modelCardSchema, sha256, type ModelCard } from '@pdm/protocol';
import type { AuditLog } from '../audit/audit-log.js';
import type { Actor } from '../auth/roles.js';
import { isoTime, type Clock } from '../clock.js';
import { type Database, writeTransaction } from '../db/database.js';
import type { Logger } from '../logger.js';
import { ArtifactStore } from './artifact-store.js';
import { RegistryRepo, type VersionRow } from './registry-repo.js';

export interface RegistryOptions {
  dataDir: string;
  maxModelBytes: number;
}

export interface PublishInput {
  name: string;
  version: string;
  card: unknown;
  model: Buffer;
  actor: Actor;
  reason?: string | undefined;
}

export interface VersionView {
  name: string;
  version: string;
  variant: string;
  sha256: string;
  length: number;
  cardSha256: string;
  cardLength: number;
  publishedAt: string;
  publishedBy: string;
  reason: string | null;
}

export interface ModelSummary {
  name: string;
  versions: number;
  latestVersion: string | null;
  latestRelease: number;
}

/** A version with the bytes a manifest lists: model.onnx and card.json. */
export interface ReleasableVersion extends VersionView {
  artifacts: { name: string; sha256: string; length: number }[];
}

/** The check of an ONNX file against a feature spec (models/src/onnx/check.ts), injectable for tests. */
export type ModelChecker = (onnx: Uint8Array, spec: ModelCard['featureSpec']) => Promise<void>;

// onnxruntime costs ~50 MB of RSS; a controller that never publishes never loads it.
const defaultChecker: ModelChecker = async (onnx, spec) => (await import('@pdm/models')).checkModelAgainstSpec(onnx, spec);

export class Registry {
  readonly #options: RegistryOptions;
  readonly #database: Database;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #check: ModelChecker;
  readonly artifacts: ArtifactStore;
  #repo: RegistryRepo | undefined;

  constructor(options: RegistryOptions, database: Database, audit: AuditLog, clock: Clock, log: Logger, check: ModelChecker = defaultChecker) {
    this.#options = options;
    this.#database = database;
    this.#audit = audit;
    this.#clock = clock;
    this.#log = log;
    this.#check = check;
    this.artifacts = new ArtifactStore(join(options.dataDir, 'artifacts'));
  }

  async start(): Promise<void> {
    this.#repo = new RegistryRepo(this.#database.handle);
  }

  async stop(): Promise<void> {
    this.#repo = undefined;
  }

  get repo(): RegistryRepo {
    if (this.#repo === undefined) throw new PdmError('INTERNAL', 'registry is not started');
    return this.#repo;
  }

  /** Validates and stores a version; `created` is false when the identical version was already there. */
  async publish(input: PublishInput): Promise<{ created: boolean; version: VersionView }> {
    const card = parseCard(input);
    if (input.model.byteLength === 0) throw new PdmError('MODEL_LOAD_FAILED', 'model file is empty');
    if (input.model.byteLength > this.#options.maxModelBytes) {
      throw new PdmError('PAYLOAD_TOO_LARGE', `model file of ${input.model.byteLength} bytes exceeds maxModelBytes ${this.#options.maxModelBytes}`);
    }
    const modelSha = sha256(input.model);
    if (card.sha256 !== undefined && card.sha256 !== modelSha) {
      throw new PdmError('MODEL_CARD_INVALID', `card.sha256 ${card.sha256} is not the sha256 of the model file (${modelSha})`, { context: { field: 'card.sha256' } });
    }
    const cardBytes = Buffer.from(`${JSON.stringify(card, null, 2)}\n`, 'utf8');
    const existing = this.repo.version(card.name, card.version);
    if (existing !== undefined) return { created: false, version: sameOrConflict(existing, modelSha, sha256(cardBytes)) };
    await this.#check(input.model, card.featureSpec);

    const model = this.artifacts.put(input.model);
    const cardArtifact = this.artifacts.put(cardBytes);
    const at = this.#clock.now();
    writeTransaction(this.#database.handle, () => {
      this.repo.insert({
        name: card.name, version: card.version, model, card: { ...cardArtifact, json: cardBytes.toString('utf8') },
        variant: card.variant, at, by: input.actor.name, reason: input.reason ?? null,
      });
      this.#audit.record({
        actor: input.actor, action: 'model.publish', target: { type: 'model', id: `${card.name}@${card.version}` },
        reason: input.reason, detail: { sha256: model.sha256, length: model.length, variant: card.variant },
      });
    })();
    this.#log.info({ name: card.name, version: card.version, sha256: model.sha256, bytes: model.length, by: input.actor.name }, 'model version published');
    return { created: true, version: toView(this.repo.version(card.name, card.version)!) };
  }

  list(): ModelSummary[] {
    return this.repo.names().map((n) => {
      const latest = this.repo.versions(n.name)[0];
      return { name: n.name, versions: n.versions, latestVersion: latest?.version ?? null, latestRelease: this.repo.lastRelease(n.name) };
    });
  }

  versions(name: string): VersionView[] {
    const rows = this.repo.versions(name);
    if (rows.length === 0) throw new PdmError('NOT_FOUND', 'no such model', { context: { name } });
    return rows.map(toView);
  }

  /** One version with its card; NOT_FOUND when the registry does not hold it. */
  version(name: string, version: string): VersionView & { card: ModelCard } {
    const row = this.repo.version(name, version);
    if (row === undefined) throw new PdmError('NOT_FOUND', 'no such model version', { context: { name, version } });
    return { ...toView(row), card: JSON.parse(row.card) as ModelCard };
  }

  /** What a manifest for this version lists. */
  releasable(name: string, version: string): ReleasableVersion {
    const row = this.repo.version(name, version);
    if (row === undefined) throw new PdmError('NOT_FOUND', 'no such model version', { context: { name, version } });
    return {
      ...toView(row),
      artifacts: [
        { name: 'model.onnx', sha256: row.model_sha256, length: row.model_length },
        { name: 'card.json', sha256: row.card_sha256, length: row.card_length },
      ],
    };
  }

  has(name: string, version: string): boolean {
    return this.repo.version(name, version) !== undefined;
  }
}

function parseCard(input: PublishInput): ModelCard {
  const parsed = modelCardSchema.safeParse(input.card);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 20).map((i) => ({ field: ['card', ...i.path.map(String)].join('.'), message: i.message }));
    throw new PdmError('MODEL_CARD_INVALID', `model card is invalid: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { context: { issues } });
  }
  const card = parsed.data;
  for (const field of ['name', 'version'] as const) {
    if (card[field] !== input[field]) {
      throw new PdmError('MODEL_CARD_INVALID', `the card's ${field} is ${JSON.stringify(card[field])} but the request says ${JSON.stringify(input[field])}`, {
        context: { field: `card.${field}` },
      });
    }
  }
  return card;
}

function sameOrConflict(row: VersionRow, modelSha: string, cardSha: string): VersionView {
  if (row.model_sha256 === modelSha && row.card_sha256 === cardSha) return toView(row);
  throw new PdmError('CONFLICT', `${row.name} ${row.version} is already published with other ${row.model_sha256 === modelSha ? 'card' : 'model bytes'}; publish a new version`, {
    context: { name: row.name, version: row.version, sha256: row.model_sha256 },
  });
}

function toView(r: VersionRow): VersionView {
  return {
    name: r.name, version: r.version, variant: r.variant, sha256: r.model_sha256, length: r.model_length,
    cardSha256: r.card_sha256, cardLength: r.card_length, publishedAt: isoTime(r.published_at), publishedBy: r.published_by, reason: r.reason,
  };
}

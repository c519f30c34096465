/**
 * API tokens, from three places: the tokens file named in the config (`tokensFile`), or, when none is
 * configured, one admin token generated at first start into `<dataDir>/admin.token` (mode 0600) and
 * reused afterwards; and, beside either, tokens created through the API and kept in the database
 * (token-store.ts). The path is logged, never the value. Only sha256 digests of tokens are held; a
 * presented token is hashed and looked up, so no comparison runs over secret bytes.
 *
 * Tokens file (JSON): `{ "tokens": [ { "name": "alice", "role": "engineer", "sha256": "<hex>" },
 * { "name": "ci", "role": "admin", "token": "<at least 24 characters>" } ] }`. Prefer `sha256`
 * (`printf %s "$TOKEN" | sha256sum`): the file then holds no secret.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { PdmError } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import { roleSchema, type Actor, type Role } from './roles.js';
import type { TokenStore, TokenView } from './token-store.js';

export const ADMIN_TOKEN_FILE = 'admin.token';
const MIN_TOKEN_LENGTH = 24;

export const tokenNameSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits, ".", "_", "@" or "-"');
const entrySchema = z.strictObject({
  name: tokenNameSchema,
  role: roleSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 hex of the token').optional(),
  token: z.string().min(MIN_TOKEN_LENGTH, `at least ${MIN_TOKEN_LENGTH} characters`).max(512).optional(),
}).refine((t) => (t.sha256 === undefined) !== (t.token === undefined), { message: 'give exactly one of sha256 or token' });
export const tokensFileSchema = z.strictObject({ tokens: z.array(entrySchema).min(1).max(1000) })
  .refine((f) => new Set(f.tokens.map((t) => t.name)).size === f.tokens.length, { message: 'token names must be unique', path: ['tokens'] });

export interface ApiTokensOptions {
  dataDir: string;
  tokensFile?: string | undefined;
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** 256 random bits, URL-safe; the prefix makes a leaked token easy to recognise (secret scanners). */
export const newToken = (): string => `pdm_${randomBytes(32).toString('base64url')}`;

/** Actor names the controller itself uses in the audit log (roles.ts, events routes). */
const RESERVED_NAMES = new Set(['controller', 'api']);

interface ConfiguredToken {
  actor: Actor;
  source: 'file' | 'generated';
}

export class ApiTokens {
  readonly #options: ApiTokensOptions;
  readonly #log: Logger;
  readonly #store: TokenStore | undefined;
  #byHash = new Map<string, ConfiguredToken>();

  /** `store`: tokens created through the API; without one only the file or generated token exists. */
  constructor(options: ApiTokensOptions, log: Logger, store?: TokenStore) {
    this.#options = options;
    this.#log = log;
    this.#store = store;
  }

  async start(): Promise<void> {
    const file = this.#options.tokensFile;
    this.#byHash = file === undefined ? this.#adminTokenFile() : readTokensFile(file);
    const byRole: Record<string, number> = {};
    for (const { actor } of this.#byHash.values()) byRole[actor.role!] = (byRole[actor.role!] ?? 0) + 1;
    const stored = this.#store?.list() ?? [];
    for (const t of stored) {
      // created through the API before the tokens file gained the same name: audit entries would be ambiguous
      if (this.#configured(t.name) !== undefined) this.#log.warn({ name: t.name }, 'a token in the tokens file has the name of a token created through the API');
    }
    const created = stored.filter((t) => t.revoked === null).length;
    this.#log.info({ source: file ?? join(this.#options.dataDir, ADMIN_TOKEN_FILE), byRole, created }, 'api tokens loaded');
  }

  async stop(): Promise<void> {
    this.#byHash = new Map();
  }

  /** The actor a bearer token belongs to, or undefined for an unknown or revoked token. */
  identify(token: string): Actor | undefined {
    const hash = hashToken(token);
    return this.#byHash.get(hash)?.actor ?? this.#store?.identify(hash);
  }

  /** Creates a token in the database; its value is in the result only. CONFLICT for a name in use. */
  create(input: { name: string; role: Role; reason?: string | undefined }, actor: Actor): { token: string; view: TokenView } {
    const configured = this.#configured(input.name);
    if (configured !== undefined || RESERVED_NAMES.has(input.name)) {
      throw new PdmError('CONFLICT', `the name ${input.name} is taken by ${configured === undefined ? 'the controller itself' : `the ${configured.source} token`}`, {
        context: { name: input.name },
      });
    }
    return this.#requireStore().create(input, actor);
  }

  /** Every token: the file's or the generated one first, then those created through the API. */
  list(): TokenView[] {
    const configured = [...this.#byHash.values()].map(({ actor, source }): TokenView => ({
      name: actor.name, role: actor.role!, source, created: null, createdBy: null, lastUsed: null, revoked: null, revokedBy: null,
    }));
    return [...configured, ...(this.#store?.list() ?? [])];
  }

  /** Revokes a token created through the API; a configured one is changed where it is configured. */
  revoke(name: string, actor: Actor, reason?: string): { changed: boolean; view: TokenView } {
    const configured = this.#configured(name);
    if (configured !== undefined) {
      const how = configured.source === 'file' ? 'remove it from the tokens file' : `delete ${join(this.#options.dataDir, ADMIN_TOKEN_FILE)} (a new one is generated)`;
      throw new PdmError('CONFLICT', `${name} is the ${configured.source} token: ${how} and restart the controller`, { context: { name, source: configured.source } });
    }
    return this.#requireStore().revoke(name, actor, reason);
  }

  #configured(name: string): ConfiguredToken | undefined {
    return [...this.#byHash.values()].find((t) => t.actor.name === name);
  }

  #requireStore(): TokenStore {
    if (this.#store === undefined) throw new PdmError('INTERNAL', 'api tokens were built without a token store');
    return this.#store;
  }

  /** Reads `<dataDir>/admin.token`, creating it (0600) with a fresh random token when missing. */
  #adminTokenFile(): Map<string, ConfiguredToken> {
    const path = join(this.#options.dataDir, ADMIN_TOKEN_FILE);
    let token: string;
    if (existsSync(path)) {
      token = readFileSync(path, 'utf8').trim();
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new PdmError('CONFIG_INVALID', `${path} holds no usable token (at least ${MIN_TOKEN_LENGTH} characters)`, { context: { file: path } });
      }
    } else {
      mkdirSync(dirname(path), { recursive: true });
      token = newToken();
      // 'wx': never overwrite a token another process wrote meanwhile; mode applies on creation
      writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(path, 0o600);
      this.#log.info({ file: path }, 'no tokensFile configured: generated an admin API token');
    }
    return new Map([[hashToken(token), { actor: { name: 'admin', role: 'admin' }, source: 'generated' }]]);
  }
}

function readTokensFile(file: string): Map<string, ConfiguredToken> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new PdmError('CONFIG_INVALID', `tokens file ${file} cannot be read as JSON`, { cause, context: { file } });
  }
  const parsed = tokensFileSchema.safeParse(json);
  if (!parsed.success) {
    // paths and messages only: zod never echoes a token's value in them
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new PdmError('CONFIG_INVALID', `tokens file ${file}: ${problems.join('; ')}`, { context: { file, problems } });
  }
  const map = new Map<string, ConfiguredToken>();
  for (const t of parsed.data.tokens) {
    const hash = t.sha256 ?? hashToken(t.token!);
    if (map.has(hash)) throw new PdmError('CONFIG_INVALID', `tokens file ${file}: two entries share one token`, { context: { file, name: t.name } });
    map.set(hash, { actor: { name: t.name, role: t.role }, source: 'file' });
  }
  return map;
}

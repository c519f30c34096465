/**
 * API tokens: loaded from the tokens file named in the config (`tokensFile`), or, when none is
 * configured, one admin token generated at first start into `<dataDir>/admin.token` (mode 0600) and
 * reused afterwards. The path is logged, never the value. Only sha256 digests of tokens are held in
 * memory; a presented token is hashed and looked up, so no comparison runs over secret bytes.
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
import { roleSchema, type Actor } from './roles.js';

export const ADMIN_TOKEN_FILE = 'admin.token';
const MIN_TOKEN_LENGTH = 24;

const tokenNameSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits, ".", "_", "@" or "-"');
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

export class ApiTokens {
  readonly #options: ApiTokensOptions;
  readonly #log: Logger;
  #byHash = new Map<string, Actor>();

  constructor(options: ApiTokensOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
  }

  async start(): Promise<void> {
    const file = this.#options.tokensFile;
    this.#byHash = file === undefined ? this.#adminTokenFile() : readTokensFile(file);
    const byRole: Record<string, number> = {};
    for (const a of this.#byHash.values()) byRole[a.role!] = (byRole[a.role!] ?? 0) + 1;
    this.#log.info({ source: file ?? join(this.#options.dataDir, ADMIN_TOKEN_FILE), byRole }, 'api tokens loaded');
  }

  async stop(): Promise<void> {
    this.#byHash = new Map();
  }

  /** The actor a bearer token belongs to, or undefined for an unknown token. */
  identify(token: string): Actor | undefined {
    return this.#byHash.get(hashToken(token));
  }

  /** Reads `<dataDir>/admin.token`, creating it (0600) with a fresh random token when missing. */
  #adminTokenFile(): Map<string, Actor> {
    const path = join(this.#options.dataDir, ADMIN_TOKEN_FILE);
    let token: string;
    if (existsSync(path)) {
      token = readFileSync(path, 'utf8').trim();
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new PdmError('CONFIG_INVALID', `${path} holds no usable token (at least ${MIN_TOKEN_LENGTH} characters)`, { context: { file: path } });
      }
    } else {
      mkdirSync(dirname(path), { recursive: true });
      token = `pdm_${randomBytes(32).toString('base64url')}`;
      // 'wx': never overwrite a token another process wrote meanwhile; mode applies on creation
      writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(path, 0o600);
      this.#log.info({ file: path }, 'no tokensFile configured: generated an admin API token');
    }
    return new Map([[hashToken(token), { name: 'admin', role: 'admin' }]]);
  }
}

function readTokensFile(file: string): Map<string, Actor> {
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
  const map = new Map<string, Actor>();
  for (const t of parsed.data.tokens) {
    const hash = t.sha256 ?? hashToken(t.token!);
    if (map.has(hash)) throw new PdmError('CONFIG_INVALID', `tokens file ${file}: two entries share one token`, { context: { file, name: t.name } });
    map.set(hash, { name: t.name, role: t.role });
  }
  return map;
}

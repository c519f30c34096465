/**
 * API tokens created through the API (`POST /api/v1/tokens`, `pdmctl tokens create`), kept in the
 * controller database (migration 006) so every instance sharing it knows them at once and a revoke
 * takes effect on the next request. Only sha256 digests are stored; the token itself is returned
 * once, by `create`, and never written anywhere. Each create and revoke is audited in the same
 * transaction as the change.
 */
import { PdmError } from '@pdm/protocol';
import type { AuditLog } from '../audit/audit-log.js';
import { isoTime, type Clock } from '../clock.js';
import { type Database, writeTransaction } from '../db/database.js';
import type { Actor, Role } from './roles.js';
import { hashToken, newToken } from './tokens.js';

/** One token as the API lists it: never its value or digest. */
export interface TokenView {
  name: string;
  role: Role;
  /** api: created through the API; file: the tokens file; generated: `<dataDir>/admin.token` */
  source: 'api' | 'file' | 'generated';
  created: string | null;
  createdBy: string | null;
  /** Last request with it, to the minute (tokens created through the API only). */
  lastUsed: string | null;
  revoked: string | null;
  revokedBy: string | null;
}

type Row = {
  name: string; role: Role; created_at: number; created_by: string; last_used_at: number | null; revoked_at: number | null; revoked_by: string | null;
};

/** lastUsed is a hint for people ("is this token still used?"), not worth a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class TokenStore {
  readonly #database: Database;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #lastWritten = new Map<string, number>();

  constructor(database: Database, audit: AuditLog, clock: Clock) {
    this.#database = database;
    this.#audit = audit;
    this.#clock = clock;
  }

  /** Creates a token; throws CONFLICT when the name is taken (revoked names included). */
  create(input: { name: string; role: Role; reason?: string | undefined }, actor: Actor): { token: string; view: TokenView } {
    const db = this.#database.handle;
    const token = newToken();
    const now = this.#clock.now();
    writeTransaction(db, () => {
      if (this.#row(input.name) !== undefined) {
        throw new PdmError('CONFLICT', 'a token with this name exists (names of revoked tokens are not reused)', { context: { name: input.name } });
      }
      db.prepare('INSERT INTO api_tokens (name, role, sha256, created_at, created_by) VALUES (?, ?, ?, ?, ?)')
        .run(input.name, input.role, hashToken(token), now, actor.name);
      this.#audit.record({ actor, action: 'token.create', target: { type: 'token', id: input.name }, reason: input.reason, detail: { role: input.role } });
    })();
    return { token, view: toView(this.#row(input.name)!) };
  }

  list(): TokenView[] {
    const rows = this.#database.handle.prepare('SELECT * FROM api_tokens ORDER BY created_at, name').all() as Row[];
    return rows.map(toView);
  }

  /** Revokes a token; `changed` is false when it already was (nothing is audited then). Throws NOT_FOUND. */
  revoke(name: string, actor: Actor, reason?: string): { changed: boolean; view: TokenView } {
    const db = this.#database.handle;
    const changed = writeTransaction(db, () => {
      const row = this.#row(name);
      if (row === undefined) throw new PdmError('NOT_FOUND', 'no token with this name was created through the API', { context: { name } });
      if (row.revoked_at !== null) return false;
      db.prepare('UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE name = ?').run(this.#clock.now(), actor.name, name);
      this.#audit.record({ actor, action: 'token.revoke', target: { type: 'token', id: name }, reason, detail: { role: row.role } });
      return true;
    })();
    return { changed, view: toView(this.#row(name)!) };
  }

  /** The actor of a live (not revoked) token with this digest, noting that it was used. */
  identify(sha256: string): Actor | undefined {
    const db = this.#database.handle;
    const row = db.prepare('SELECT name, role FROM api_tokens WHERE sha256 = ? AND revoked_at IS NULL').get(sha256) as Pick<Row, 'name' | 'role'> | undefined;
    if (row === undefined) return undefined;
    const now = this.#clock.now();
    if (now - (this.#lastWritten.get(row.name) ?? -Infinity) >= LAST_USED_RESOLUTION_MS) {
      this.#lastWritten.set(row.name, now);
      db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE name = ?').run(now, row.name);
    }
    return { name: row.name, role: row.role };
  }

  #row(name: string): Row | undefined {
    return this.#database.handle.prepare('SELECT * FROM api_tokens WHERE name = ?').get(name) as Row | undefined;
  }
}

function toView(r: Row): TokenView {
  const time = (ms: number | null) => (ms === null ? null : isoTime(ms));
  return {
    name: r.name, role: r.role, source: 'api', created: isoTime(r.created_at), createdBy: r.created_by,
    lastUsed: time(r.last_used_at), revoked: time(r.revoked_at), revokedBy: r.revoked_by,
  };
}

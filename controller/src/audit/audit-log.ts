/**
 * The audit log: every change, who made it, what, to which target, when and why (FIELD.md,
 * governance: "who approved which version"). People act through the API with their token's name and
 * role; the rollout engine acts as `controller` (role null) when a gate passes or fails by itself.
 * Entries are only ever appended. A caller that changes state writes its entry in the same SQLite
 * transaction, so a change and its entry are both stored or neither is.
 */
import { z } from 'zod';
import { isoTime, type Clock } from '../clock.js';
import type { Database } from '../db/database.js';
import type { Actor, Role } from '../auth/roles.js';

export interface AuditEntry {
  actor: Actor;
  /** `<target type>.<verb>`, e.g. model.publish, rollout.create, rollout.rollback, trust.rotate */
  action: string;
  target: { type: string; id: string };
  reason?: string | undefined;
  detail?: Record<string, unknown>;
}

export interface AuditView {
  id: number;
  at: string;
  actor: string;
  role: Role | null;
  action: string;
  target: { type: string; id: string };
  reason: string | null;
  detail: Record<string, unknown>;
}

export const auditQuerySchema = z.strictObject({
  actor: z.string().min(1).max(64).optional(),
  /** Exact action, or a prefix ending in "." (e.g. "rollout.") */
  action: z.string().min(1).max(64).optional(),
  targetType: z.string().min(1).max(32).optional(),
  targetId: z.string().min(1).max(256).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  /** Paging: entries with an id below this one (the previous page's `nextBefore`). */
  before: z.number().int().min(1).optional(),
  limit: z.number().int().min(1).max(500).default(50),
});
export type AuditQuery = z.input<typeof auditQuerySchema>;

export interface AuditPage {
  entries: AuditView[];
  /** Pass as `before` for the next (older) page; null when this was the last one. */
  nextBefore: number | null;
}

type Row = { id: number; at: number; actor: string; role: Role | null; action: string; target_type: string; target_id: string; reason: string | null; detail: string };

export class AuditLog {
  readonly #database: Database;
  readonly #clock: Clock;

  constructor(database: Database, clock: Clock) {
    this.#database = database;
    this.#clock = clock;
  }

  record(entry: AuditEntry): AuditView {
    const at = this.#clock.now();
    const detail = entry.detail ?? {};
    const info = this.#database.handle.prepare(`INSERT INTO audit_log (at, actor, role, action, target_type, target_id, reason, detail)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(
      at, entry.actor.name, entry.actor.role, entry.action, entry.target.type, entry.target.id, entry.reason ?? null, JSON.stringify(detail),
    );
    return {
      id: Number(info.lastInsertRowid), at: isoTime(at), actor: entry.actor.name, role: entry.actor.role, action: entry.action,
      target: entry.target, reason: entry.reason ?? null, detail,
    };
  }

  /** Newest first, filtered, one page at a time. */
  list(query: AuditQuery = {}): AuditPage {
    const q = auditQuerySchema.parse(query);
    const where: string[] = [];
    const args: Record<string, unknown> = { limit: q.limit + 1 };
    const add = (sql: string, key: string, value: unknown) => { if (value !== undefined) { where.push(sql); args[key] = value; } };
    add('actor = $actor', 'actor', q.actor);
    if (q.action?.endsWith('.')) add("substr(action, 1, length($action)) = $action", 'action', q.action);
    else add('action = $action', 'action', q.action);
    add('target_type = $targetType', 'targetType', q.targetType);
    add('target_id = $targetId', 'targetId', q.targetId);
    add('at >= $since', 'since', q.since === undefined ? undefined : Date.parse(q.since));
    add('at <= $until', 'until', q.until === undefined ? undefined : Date.parse(q.until));
    add('id < $before', 'before', q.before);
    const sql = `SELECT * FROM audit_log ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY id DESC LIMIT $limit`;
    const rows = this.#database.handle.prepare(sql).all(args) as Row[];
    const page = rows.slice(0, q.limit).map(toView);
    return { entries: page, nextBefore: rows.length > q.limit ? page[page.length - 1]!.id : null };
  }
}

function toView(r: Row): AuditView {
  return {
    id: r.id, at: isoTime(r.at), actor: r.actor, role: r.role, action: r.action,
    target: { type: r.target_type, id: r.target_id }, reason: r.reason, detail: JSON.parse(r.detail) as Record<string, unknown>,
  };
}

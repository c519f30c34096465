/**
 * Who may change what. Every mutating HTTP route names one permission in its route config
 * (`{ config: { permission: 'rollouts:create' } }`); this table says which roles hold it. A mutating
 * route that names none is refused for everyone but admin (secure by default: a new route forgotten
 * here cannot be called by a planner). Reads are governed by config `apiReads`, except a read route
 * that names a permission (the token list): it needs a token holding it whatever `apiReads` says.
 *
 * Roles (FIELD.md): reliability engineers publish models and run rollouts; maintenance planners read
 * reports and may record what happened to machines, but never start or steer a rollout; viewers only
 * read; admins also rotate the signing key and manage API tokens.
 */
import { z } from 'zod';

export const roles = ['admin', 'engineer', 'planner', 'viewer'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;

export const permissions = {
  'models:publish': ['admin', 'engineer'],
  'rollouts:create': ['admin', 'engineer'],
  /** pause, resume, abort, promote, rollback */
  'rollouts:control': ['admin', 'engineer'],
  'trust:rotate': ['admin'],
  /** create, list and revoke API tokens (the list too: it names every token holder) */
  'tokens:manage': ['admin'],
  /** enroll, re-issue and revoke device credentials (MQTT identities) */
  'devices:enroll': ['admin'],
  /** machine events and downtime entered by people (model quality and reports) */
  'events:record': ['admin', 'engineer', 'planner'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof permissions;

export function allows(role: Role, permission: Permission | undefined): boolean {
  // route config is not type-checked: a permission missing from the table is treated like none
  const holders = permission === undefined ? undefined : (permissions[permission] as readonly Role[] | undefined);
  return holders === undefined ? role === 'admin' : holders.includes(role);
}

/** Who did something: an API token's name and role, or the controller itself (role null). */
export interface Actor {
  readonly name: string;
  readonly role: Role | null;
}

export const CONTROLLER_ACTOR: Actor = Object.freeze({ name: 'controller', role: null });

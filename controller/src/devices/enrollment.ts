/**
 * Device enrollment: issues each device its MQTT password (shown once, stored as a hash), re-issues
 * it, revokes it, and answers the embedded broker's question "is this the device's password?".
 * Every change is written to the audit log with who made it, in the transaction that makes it; a
 * re-issued or revoked device that is connected now is disconnected, so the old password stops
 * working at once rather than at its next reconnect.
 */
import { z } from 'zod';
import { PdmError, nameSchema, type KeySet } from '@pdm/protocol';
import type { AuditLog } from '../audit/audit-log.js';
import type { Actor } from '../auth/roles.js';
import type { Clock } from '../clock.js';
import { type Database, writeTransaction } from '../db/database.js';
import type { Logger } from '../logger.js';
import { agentConfigFor, type AgentConfigDraft, type AgentConfigSettings } from './agent-config.js';
import { CredentialsRepo, type DeviceIdentity } from './credentials-repo.js';
import { hashSecret, newDeviceSecret, verifySecret } from './secret-hash.js';
import { tagSchema } from './tags.js';

export const enrollRequestSchema = z.strictObject({
  assetId: nameSchema,
  assetClass: nameSchema,
  site: nameSchema,
  tags: z.array(tagSchema).max(32).default([]),
  reason: z.string().max(1000).optional(),
});
export type EnrollRequest = z.input<typeof enrollRequestSchema>;

/** The answer to enroll and re-issue: the password, here and nowhere else, and the agent's config. */
export interface IssuedCredential {
  device: DeviceIdentity;
  password: string;
  agentConfig: AgentConfigDraft;
}

/** What the enrollment needs of the broker: dropping a connected client. */
export interface DeviceSessions {
  disconnect(deviceId: string): Promise<boolean>;
}

export interface EnrollmentDeps {
  database: Database;
  audit: AuditLog;
  sessions: DeviceSessions;
  /** The trusted key set printed into agent configs. */
  keySet: () => KeySet;
  clock: Clock;
  log: Logger;
}

export class DeviceEnrollment {
  readonly #settings: () => AgentConfigSettings;
  readonly #deps: EnrollmentDeps;
  readonly #repo: CredentialsRepo;

  constructor(settings: () => AgentConfigSettings, deps: EnrollmentDeps) {
    this.#settings = settings;
    this.#deps = deps;
    this.#repo = new CredentialsRepo(deps.database);
  }

  list(filter: { state?: 'active' | 'revoked' | undefined; tag?: string | undefined } = {}): DeviceIdentity[] {
    return this.#repo.list(filter);
  }

  get(deviceId: string): DeviceIdentity | undefined {
    return this.#repo.get(deviceId);
  }

  /** A new device, or a revoked one enrolled again; an active one is a CONFLICT (re-issue instead). */
  async enroll(deviceId: string, request: EnrollRequest, actor: Actor): Promise<IssuedCredential> {
    const fields = enrollRequestSchema.parse(request);
    const existing = this.#repo.get(deviceId);
    if (existing?.state === 'active') {
      throw new PdmError('CONFLICT', 'device is already enrolled: re-issue its password or revoke it first', { context: { deviceId } });
    }
    const password = newDeviceSecret();
    const hash = await hashSecret(password);
    const generation = (existing?.generation ?? 0) + 1;
    writeTransaction(this.#deps.database.handle, () => {
      this.#repo.upsert(deviceId, fields, hash, generation, this.#deps.clock.now());
      this.#deps.audit.record({
        actor, action: 'device.enroll', target: { type: 'device', id: deviceId }, reason: fields.reason,
        detail: { assetId: fields.assetId, assetClass: fields.assetClass, site: fields.site, tags: fields.tags, generation },
      });
    })();
    this.#deps.log.info({ deviceId, generation, by: actor.name }, 'device enrolled');
    return this.#issued(deviceId, password);
  }

  async reissue(deviceId: string, actor: Actor, reason?: string): Promise<IssuedCredential> {
    const existing = this.#mustBeActive(deviceId);
    const password = newDeviceSecret();
    const hash = await hashSecret(password);
    const generation = existing.generation + 1;
    writeTransaction(this.#deps.database.handle, () => {
      this.#repo.replaceSecret(deviceId, hash, generation, this.#deps.clock.now());
      this.#deps.audit.record({ actor, action: 'device.reissue', target: { type: 'device', id: deviceId }, reason, detail: { generation } });
    })();
    const disconnected = await this.#deps.sessions.disconnect(deviceId);
    this.#deps.log.info({ deviceId, generation, disconnected, by: actor.name }, 'device password re-issued');
    return this.#issued(deviceId, password);
  }

  async revoke(deviceId: string, actor: Actor, reason?: string): Promise<DeviceIdentity> {
    this.#mustBeActive(deviceId);
    writeTransaction(this.#deps.database.handle, () => {
      this.#repo.revoke(deviceId, this.#deps.clock.now());
      this.#deps.audit.record({ actor, action: 'device.revoke', target: { type: 'device', id: deviceId }, reason });
    })();
    const disconnected = await this.#deps.sessions.disconnect(deviceId);
    this.#deps.log.warn({ deviceId, disconnected, by: actor.name }, 'device revoked');
    return this.#repo.get(deviceId)!;
  }

  /** The broker's check: true only for an active device presenting its current password. */
  async verify(deviceId: string, password: Buffer): Promise<boolean> {
    const hash = this.#repo.activeHash(deviceId);
    if (hash === undefined) return false;
    return verifySecret(password, hash);
  }

  /** The broker's check for a client certificate (CN = deviceId): the device must be enrolled and active. */
  isActive(deviceId: string): boolean {
    return this.#repo.activeHash(deviceId) !== undefined;
  }

  #mustBeActive(deviceId: string): DeviceIdentity {
    const existing = this.#repo.get(deviceId);
    if (existing === undefined) throw new PdmError('NOT_FOUND', 'device is not enrolled', { context: { deviceId } });
    if (existing.state !== 'active') throw new PdmError('CONFLICT', 'device is revoked: enroll it again', { context: { deviceId } });
    return existing;
  }

  #issued(deviceId: string, password: string): IssuedCredential {
    const device = this.#repo.get(deviceId)!;
    return { device, password, agentConfig: agentConfigFor(device, this.#settings(), this.#deps.keySet()) };
  }
}

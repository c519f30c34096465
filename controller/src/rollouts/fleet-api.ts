/** What the registry, trust, rollout and audit routes use (built by rollouts/parts.ts). */
import type { AuditLog } from '../audit/audit-log.js';
import type { ApiTokens } from '../auth/tokens.js';
import type { ApiReads } from '../auth/guard.js';
import type { Registry } from '../registry/registry.js';
import type { SigningKeys } from '../registry/signing-keys.js';
import type { TrustSync } from '../registry/trust-sync.js';
import type { RolloutService } from './service.js';

export interface FleetApi {
  /** The guard identifies with it; the token routes create, list and revoke through it. */
  tokens: Pick<ApiTokens, 'identify' | 'create' | 'list' | 'revoke'>;
  reads: ApiReads;
  audit: AuditLog;
  registry: Registry;
  keys: SigningKeys;
  trustSync: TrustSync;
  rollouts: RolloutService;
  /** Largest model file accepted; the publish route's body limit follows from it. */
  maxModelBytes: number;
}

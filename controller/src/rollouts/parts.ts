/**
 * Builds the registry, signing, rollout, auth and audit parts from the configuration, in start order:
 * tokens, registry, signing keys, trust sync, chunk server, rollout engine. app.ts places them after
 * commands and before http; `api` is what the HTTP routes use.
 */
import { join, resolve } from 'node:path';
import { AuditLog } from '../audit/audit-log.js';
import type { ApiReads } from '../auth/guard.js';
import { TokenStore } from '../auth/token-store.js';
import { ApiTokens } from '../auth/tokens.js';
import type { BrokerLink } from '../broker/broker-link.js';
import type { Clock } from '../clock.js';
import type { Commands } from '../commands/commands.js';
import type { Database } from '../db/database.js';
import { DevicesRepo } from '../db/devices-repo.js';
import type { StatusSource, UpstreamSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import { ChunkServer } from '../registry/chunk-server.js';
import { ManifestSigner } from '../registry/manifest-signer.js';
import { Registry, type ModelChecker } from '../registry/registry.js';
import { SigningKeys } from '../registry/signing-keys.js';
import { TrustSync } from '../registry/trust-sync.js';
import { RolloutEngine } from './engine.js';
import type { FleetApi } from './fleet-api.js';
import { RolloutService } from './service.js';

export interface FleetConfig {
  dataDir: string;
  tokensFile?: string | undefined;
  apiReads: ApiReads;
  signingKeyFile?: string | undefined;
  maxModelBytes: number;
  manifestTtlSec: number;
  minAgentVersion: string;
  commandTimeoutMs: number;
  rolloutTickMs: number;
  rolloutResendSec: number;
  rolloutResignSec: number;
  rolloutMaxAttempts: number;
}

export interface FleetDeps {
  database: Database;
  upstream: UpstreamSource & StatusSource;
  commands: Commands;
  link: BrokerLink;
  clock: Clock;
  log: Logger;
  /** Tests may replace the ONNX check; production loads onnxruntime. */
  checkModel?: ModelChecker;
}

export interface StartStop {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class Fleet {
  readonly tokens: ApiTokens;
  readonly audit: AuditLog;
  readonly registry: Registry;
  readonly keys: SigningKeys;
  readonly signer: ManifestSigner;
  readonly trustSync: TrustSync;
  readonly chunks: ChunkServer;
  readonly engine: RolloutEngine;
  readonly rollouts: RolloutService;
  readonly api: FleetApi;

  constructor(config: FleetConfig, deps: FleetDeps) {
    const { database, clock } = deps;
    const child = (module: string) => deps.log.child({ module });
    this.audit = new AuditLog(database, clock);
    this.tokens = new ApiTokens({ dataDir: config.dataDir, tokensFile: config.tokensFile === undefined ? undefined : resolve(config.tokensFile) },
      child('auth'), new TokenStore(database, this.audit, clock));
    this.registry = new Registry({ dataDir: config.dataDir, maxModelBytes: config.maxModelBytes }, database, this.audit, clock, child('registry'), deps.checkModel);
    this.keys = new SigningKeys({
      dataDir: config.dataDir, signingKeyFile: resolve(config.signingKeyFile ?? join(config.dataDir, 'keys', 'signing.key')),
    }, database, this.audit, clock, child('signing'));
    this.signer = new ManifestSigner({ ttlMs: config.manifestTtlSec * 1000, minAgentVersion: config.minAgentVersion }, database, this.registry, this.keys, clock, child('manifests'));
    this.trustSync = new TrustSync(this.keys, database, deps.upstream, deps.commands, () => new DevicesRepo(database.handle), clock, child('trust'));
    this.chunks = new ChunkServer(this.registry, deps.upstream, deps.link, child('chunks'));
    this.engine = new RolloutEngine({
      tickMs: config.rolloutTickMs, commandTimeoutMs: config.commandTimeoutMs, resendAfterMs: config.rolloutResendSec * 1000,
      resignAfterMs: config.rolloutResignSec * 1000, maxAttempts: config.rolloutMaxAttempts,
    }, { database, signer: this.signer, trust: this.trustSync, commands: deps.commands, upstream: deps.upstream, audit: this.audit, clock, log: child('rollouts') });
    this.rollouts = new RolloutService({ engine: this.engine, registry: this.registry, database, audit: this.audit, clock, log: child('rollouts') });
    this.api = {
      tokens: this.tokens, reads: config.apiReads, audit: this.audit, registry: this.registry, keys: this.keys,
      trustSync: this.trustSync, rollouts: this.rollouts, maxModelBytes: config.maxModelBytes,
    };
  }

  /**
   * In start order. `singleton` wraps the parts that must run on one instance only (the rollout
   * engine) when the controller runs as several instances; by default they run here.
   */
  parts(singleton: (part: StartStop) => StartStop = (p) => p): [string, StartStop][] {
    return [
      ['tokens', this.tokens], ['registry', this.registry], ['signing', this.keys], ['trust-sync', this.trustSync],
      ['chunks', this.chunks], ['rollouts', singleton(this.engine)],
    ];
  }
}

/**
 * Builds the parts of signed updates from the agent configuration: trust store, model store, model
 * slots, trial monitor, activation, artifact fetcher, deployer and the act-mode action. runtime.ts
 * places the two parts in its start order: `models` (after the outbox, before the link: recovers the
 * pointer and loads what it names) and `updates` (after the link: resumes queued deployments).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PdmError, keySetSchema, type Envelope, type KeySet, type Status } from '@pdm/protocol';
import type { Part } from '../agent.js';
import { HttpAction } from '../actions/http-action.js';
import type { Clock } from '../clock.js';
import type { AgentConfig } from '../config/schema.js';
import type { LoadedModel } from '../inference/model.js';
import { ModelSlots, scorerFor } from '../inference/slots.js';
import type { Outbox } from '../outbox/outbox.js';
import type { SignalSupply } from '../sources/source.js';
import { readJsonFile } from '../store/atomic.js';
import { ModelStore } from '../store/model-store.js';
import { AGENT_VERSION } from '../version.js';
import { Activation } from './activation.js';
import { Deployer, type DeployReply } from './deployer.js';
import { crashHook } from './faults.js';
import { ArtifactFetcher, type FetchLink } from './fetcher.js';
import { DeploymentReporter } from './reporter.js';
import { TrialMonitor } from './trial.js';
import { TrustStore } from './trust-store.js';

export const TRUST_FILE = 'trust.json';
export const MODELS_DIR = 'models';

export interface UpdatesDeps {
  readonly factory: LoadedModel;
  readonly outbox: Outbox;
  readonly link: FetchLink;
  readonly clock: Clock;
  readonly log: Logger;
  readonly random?: () => number;
  /** The sensor source: what it cannot deliver, a deployed model cannot run on. */
  readonly source: SignalSupply;
  /** Called when what runs changed (e.g. republish the status). */
  readonly onModelsChanged?: () => void;
}

export interface Updates {
  readonly slots: ModelSlots;
  readonly activation: Activation;
  readonly deployer: Deployer;
  readonly trial: TrialMonitor;
  readonly trust: TrustStore;
  readonly store: ModelStore;
  readonly action: HttpAction;
  readonly parts: { readonly models: Part; readonly updates: Part; readonly actions: Part };
  /** `deploy` command: the reply data, or a DeployRejected / PdmError to answer with. */
  deploy(commandId: string, envelope: Envelope): Promise<DeployReply>;
  /** `trust-keys` command. */
  trustKeys(envelope: Envelope): Promise<Record<string, unknown>>;
  /** What runs, for the status `models[]`. */
  models(): Status['models'];
}

export function buildUpdates(config: AgentConfig, deps: UpdatesDeps): Updates {
  const { clock, outbox, link } = deps;
  const child = (module: string): Logger => deps.log.child({ module });
  const crash = crashHook(config.crashAt, child('faults'));
  const trust = new TrustStore({ file: join(config.dataDir, TRUST_FILE), configured: configuredKeySet(config), log: child('trust') });
  const store = new ModelStore({ dir: join(config.dataDir, MODELS_DIR), log: child('store'), crash });
  const alerts = { cooldownMs: config.alerts.cooldownSeconds * 1000, criticalMargin: config.alerts.criticalMargin };
  const factoryScorer = scorerFor(deps.factory, clock, alerts);
  const slots = new ModelSlots({ initial: factoryScorer, source: deps.source, alerts, clock });
  const reporter = new DeploymentReporter({ outbox, clock, log: child('deployment') });
  let activation: Activation | undefined;
  const trial = new TrialMonitor({
    config: config.updates.trial,
    link,
    log: child('trial'),
    crash,
    onVerdict: (deploymentId, verdict) => void activation?.settle(deploymentId, verdict),
  });
  activation = new Activation({
    config: { keepVersions: config.updates.keepVersions, maxBoots: config.updates.trial.maxBoots },
    factory: { dir: config.model, scorer: factoryScorer },
    store, slots, trust, trial, reporter, clock, log: child('activation'), crash,
    ...(deps.onModelsChanged === undefined ? {} : { onChange: deps.onModelsChanged }),
  });
  const fetcher = new ArtifactFetcher({
    deviceId: config.deviceId,
    link,
    config: config.updates.download,
    partialPath: (sha) => store.partialPath(sha),
    clock,
    log: child('fetcher'),
    ...(deps.random === undefined ? {} : { random: deps.random }),
  });
  const deployer = new Deployer({
    config: { minFreeBytes: config.updates.minFreeBytes },
    factoryDir: config.model,
    device: { deviceId: config.deviceId, assetClass: config.assetClass, site: config.site, agentVersion: AGENT_VERSION },
    trust, store, fetcher, activation, reporter, clock, log: child('deployer'), crash,
  });
  const action = new HttpAction({ config: config.actions, deviceId: config.deviceId, clock, log: child('action') });
  const act = activation;
  return {
    slots, activation: act, deployer, trial, trust, store, action,
    parts: {
      models: {
        name: 'models',
        essential: true,
        start: async () => {
          trust.start();
          store.start();
          trial.start();
          await act.recover();
        },
        stop: async () => {
          trial.stop();
          await slots.stop();
        },
      },
      updates: {
        name: 'updates',
        essential: false,
        start: () => {
          fetcher.start();
          deployer.start();
        },
        stop: () => deployer.stop(),
      },
      actions: { name: 'actions', essential: false, start: () => undefined, stop: () => action.stop() },
    },
    deploy: (commandId, envelope) => deployer.deploy(commandId, envelope),
    trustKeys: async (envelope) => {
      const keySet = trust.rotate(Buffer.from(JSON.stringify(envelope), 'utf8'));
      return { version: keySet.version, keyids: keySet.keys.map((k) => k.keyid), threshold: keySet.threshold };
    },
    models: () => act.models(),
  };
}

/** The key set named by the configuration: inline keys, a key set file, or none. */
function configuredKeySet(config: AgentConfig): KeySet | undefined {
  const t = config.trust;
  if (t.keySetFile !== undefined) {
    const keySet = readJsonFile(t.keySetFile, keySetSchema, 'CONFIG_INVALID');
    if (keySet === undefined) throw new PdmError('CONFIG_INVALID', `trust.keySetFile ${t.keySetFile} does not exist`, { context: { file: t.keySetFile } });
    return keySet;
  }
  if (t.keys.length === 0) return undefined;
  return { schemaVersion: 1, version: t.version, threshold: t.threshold, keys: [...t.keys], created: '1970-01-01T00:00:00.000Z' };
}

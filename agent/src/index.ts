/** @pdm/agent: the edge agent's parts, for the pdm-agent bin, tests and embedding. */
export { Agent, type Part } from './agent.js';
export { systemClock, type Clock } from './clock.js';
export { loadConfig, ENV_PREFIX, type ConfigInputs } from './config/load.js';
export { agentConfigSchema, replayCsvSchema, type AgentConfig, type AgentConfigInput, type ReplayCsvConfig } from './config/schema.js';
export { configFields, envName, flagName, type ConfigField } from './config/fields.js';
export { createRuntime, OUTBOX_FILE, type Runtime, type RuntimeDeps, type SourceOutcome } from './runtime.js';
export { loadModel, type LoadedModel } from './inference/model.js';
export { InferenceRunner } from './inference/runner.js';
export { AlertPolicy } from './inference/alerts.js';
export { MqttLink, type LinkConfig, type LinkDeps } from './link/mqtt-link.js';
export { backoffDelay, type BackoffPolicy } from './link/backoff.js';
export {
  recordClassOf, recordClasses, type Outbox, type OutboxEntry, type OutboxStats, type PendingQuery, type RecordClass, type RecordDraft,
} from './outbox/outbox.js';
export { SqliteOutbox, type SqliteOutboxDeps } from './outbox/sqlite-outbox.js';
export { MemoryOutbox, MemoryOutboxStore } from './outbox/memory-outbox.js';
export { Forwarder, type UpLink, type ForwarderStats } from './outbox/forwarder.js';
export type { SensorSource, SourceSink, RawReading, SourceEvent, SourceSummary } from './sources/source.js';
export { ReplayCsvSource } from './sources/replay-csv.js';
export { AGENT_VERSION } from './version.js';

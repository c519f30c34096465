export { ControllerApp, CONTROLLER_VERSION, type ControllerDeps, type Part, type ReadyInfo } from './app.js';
export {
  controllerConfigSchema, loadConfig, envName, flagName, configKeys, type ControllerConfig, type ConfigSources,
} from './config.js';
export { parseFlags } from './flags.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { createLogger, type Logger } from './logger.js';
export type { BrokerLink, LinkMessage, MessageHandler, Health } from './broker/broker-link.js';
export type { BrokerHost, BrokerPorts } from './broker/broker-host.js';
export { Commands, type CommandBody, type OkReply, type SendOptions } from './commands/commands.js';
export { Ingest, type UpstreamSource, type StatusSource, type ReplySource } from './ingest/ingest.js';
export { Presence, type Transition } from './ingest/presence.js';
export { Reconciler, type ReportRound } from './reconcile/reconciler.js';
export { compareModels } from './reconcile/diff.js';
export { ReconcileRepo, type ReconcileResult } from './db/reconcile-repo.js';
export { Database, type Db } from './db/database.js';
export { CONTROLLER_CLIENT_ID, EmbeddedBroker, MAX_PACKET_BYTES } from './broker/embedded-broker.js';
export { MqttLink } from './broker/mqtt-link.js';
export type { DeviceView, DeviceState, ModelEntry, ReconcileView, StatusCounters } from './db/devices-repo.js';
export type { SeqProgress } from './db/records-repo.js';
export type { IngestTotals, InvalidEntry, InvalidSummary, KindTotals } from './db/ingest-stats-repo.js';
export type { AlertView, DeploymentView, EventView, MetricsSummary, PredictionView } from './db/records-query.js';
export type { ErrorBody } from './http/errors.js';

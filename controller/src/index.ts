export { ControllerApp, CONTROLLER_VERSION, type ControllerDeps, type Part, type ReadyInfo } from './app.js';
export {
  controllerConfigSchema, loadConfig, envName, flagName, configKeys, type ControllerConfig, type ConfigSources,
} from './config.js';
export { parseFlags } from './flags.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { createLogger, type Logger } from './logger.js';
export type { BrokerLink, LinkMessage, MessageHandler, Health } from './broker/broker-link.js';
export type { BrokerHost, BrokerPorts } from './broker/broker-host.js';
export { CONTROLLER_CLIENT_ID } from './broker/embedded-broker.js';
export { Commands, type CommandBody, type OkReply } from './commands/commands.js';
export type { DeviceView, DeviceState, ModelEntry, ReconcileView, StatusCounters } from './db/devices-repo.js';
export type { SeqProgress } from './db/records-repo.js';
export type { IngestTotals, InvalidEntry, InvalidSummary, KindTotals } from './db/ingest-stats-repo.js';
export type { AlertView, DeploymentView, EventView, MetricsSummary, PredictionView } from './db/records-query.js';
export type { ErrorBody } from './http/errors.js';

/**
 * Wiring: builds every part from the config, starts them in order and stops them in reverse. A part
 * that fails to start stops the ones already running; a part that fails to stop does not keep the
 * others from stopping.
 *
 * Order matters for delivery: devices are let in (gate) only after ingest has subscribed, and on stop
 * they are shut out and the link drained before ingest stops, so no acknowledged record is dropped.
 */
import { readFileSync } from 'node:fs';
import type { BrokerHost } from './broker/broker-host.js';
import type { LinkObserver } from './broker/broker-link.js';
import { EmbeddedBroker } from './broker/embedded-broker.js';
import type { DeviceCredentials } from './broker/broker-policy.js';
import { DeviceGate } from './broker/device-gate.js';
import { ExternalBroker } from './broker/external-broker.js';
import { MqttLink } from './broker/mqtt-link.js';
import { systemClock, type Clock } from './clock.js';
import { Cluster } from './cluster/cluster.js';
import { LeaderOnly } from './cluster/leader-only.js';
import { Commands } from './commands/commands.js';
import type { ControllerConfig } from './config.js';
import { Database } from './db/database.js';
import { DeviceEnrollment } from './devices/enrollment.js';
import type { AgentConfigSettings } from './devices/agent-config.js';
import { HttpServer } from './http/http-server.js';
import { Ingest } from './ingest/ingest.js';
import { Presence } from './ingest/presence.js';
import type { Logger } from './logger.js';
import { ControllerMetrics } from './metrics/metrics.js';
import { Reconciler } from './reconcile/reconciler.js';
import { Fleet } from './rollouts/parts.js';
import { Insights } from './quality/wiring.js';

export const CONTROLLER_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Part {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControllerDeps {
  config: ControllerConfig;
  log: Logger;
  clock?: Clock;
}

/** The fields of the "controller ready" log line. */
export interface ReadyInfo {
  version: string;
  host: string;
  httpPort: number;
  mqttPort: number;
  wsPort: number;
  /** The embedded broker's MQTT-over-TLS port; 0 when it has no TLS listener. */
  mqttsPort: number;
  /** "none" only in development: anyone may connect to the embedded broker. */
  deviceAuth: ControllerConfig['deviceAuth'];
  brokerMode: ControllerConfig['brokerMode'];
  /** The URL the controller's link uses (an external broker's never holds credentials). */
  brokerUrl: string;
  dataDir: string;
}

export class ControllerApp {
  readonly config: ControllerConfig;
  readonly database: Database;
  /** Membership and the leader lease: singleton work runs while `cluster.isLeader`. */
  readonly cluster: Cluster;
  readonly broker: BrokerHost;
  readonly metrics: ControllerMetrics;
  readonly link: MqttLink;
  readonly presence: Presence;
  readonly ingest: Ingest;
  readonly gate: DeviceGate;
  readonly commands: Commands;
  readonly reconciler: Reconciler;
  /** Registry, signing, rollouts, API tokens and the audit log. */
  readonly fleet: Fleet;
  /** Model quality, quality alerts, entered machine events and their delivery, reliability reports. */
  readonly insights: Insights;
  /** Device credentials for the embedded broker: enroll, re-issue, revoke, verify. */
  readonly enrollment: DeviceEnrollment;
  readonly http: HttpServer;
  readonly #log: Logger;
  readonly #parts: [string, Part][];
  #started: [string, Part][] = [];

  constructor({ config, log, clock = systemClock }: ControllerDeps) {
    this.config = config;
    this.#log = log;
    const child = (module: string) => log.child({ module });
    this.database = new Database({ dataDir: config.dataDir }, child('db'));
    const external = config.brokerMode === 'external';
    this.cluster = new Cluster({
      ...(external ? { name: config.brokerClientId } : {}), leaseMs: config.leaderLeaseSec * 1000,
    }, this.database, clock, child('cluster'));
    this.broker = external ? externalBroker(config, child('broker')) : embeddedBroker(config, child('broker'), {
      verify: (deviceId, password) => this.enrollment.verify(deviceId, password),
      isActive: (deviceId) => this.enrollment.isActive(deviceId),
    }, { handled: (message, seconds, ok) => this.metrics.handled(message, seconds, ok) });
    this.metrics = new ControllerMetrics({
      db: () => this.database.handle,
      ...(external ? {} : { broker: () => this.broker.stats() }),
      linkConnected: () => this.link.connected,
      leader: () => this.cluster.isLeader,
      members: () => this.cluster.members().length,
    });
    const leader = () => this.cluster.isLeader;
    this.link = new MqttLink({ connect: () => this.broker.linkOptions(), observer: this.metrics }, child('link'));
    this.presence = new Presence({ heartbeatTimeoutMs: config.heartbeatTimeoutSec * 1000, sweepWhen: leader }, this.database, this.link, clock, child('presence'));
    this.ingest = new Ingest(this.database, this.link, this.presence, clock, child('ingest'), this.broker);
    this.gate = new DeviceGate(this.broker, this.link, child('gate'), {
      ...(config.brokerSharedGroup === undefined ? {} : { othersRemain: () => this.cluster.leave() }),
    });
    this.commands = new Commands({ timeoutMs: config.commandTimeoutMs }, this.link, this.ingest, clock, child('commands'));
    this.reconciler = new Reconciler(this.database, this.link, this.ingest, this.commands, clock, child('reconcile'), { roundsWhen: leader });
    this.fleet = new Fleet(config, { database: this.database, upstream: this.ingest, commands: this.commands, link: this.link, clock, log });
    this.insights = new Insights(config, { database: this.database, ingest: this.ingest, commands: this.commands, audit: () => this.fleet.audit, clock, log });
    this.fleet.engine.setQualityProvider(this.insights.quality);
    this.enrollment = new DeviceEnrollment(() => this.#agentConfigSettings(), {
      database: this.database, audit: this.fleet.audit, sessions: this.broker, keySet: () => this.fleet.keys.keySet(), clock, log: child('devices'),
    });
    this.http = new HttpServer({ host: config.host, port: config.httpPort }, this.database, {
      broker: () => this.broker.health(),
      link: () => this.link.health(),
      db: () => this.database.health(),
      ingest: () => this.ingest.health(),
    }, child('http'), { metrics: this.metrics, fleet: this.fleet.api, insights: this.insights.api, enrollment: this.enrollment });
    this.#parts = [
      ['db', this.database], ['cluster', this.cluster], ['broker', this.broker], ['link', this.link], ['presence', this.presence],
      ['ingest', this.ingest], ['gate', this.gate], ['commands', this.commands], ['reconcile', this.reconciler],
      ...this.fleet.parts((part) => new LeaderOnly(this.cluster, part, child('rollouts'))),
      ...this.insights.parts((part) => new LeaderOnly(this.cluster, part, child('insights'))),
      ['http', this.http],
    ];
  }

  async start(): Promise<void> {
    for (const [name, part] of this.#parts) {
      try {
        await part.start();
      } catch (err) {
        this.#log.error({ err, part: name }, 'part failed to start');
        await this.stop();
        throw err;
      }
      this.#started.push([name, part]);
    }
  }

  async stop(): Promise<void> {
    for (const [name, part] of this.#started.reverse()) {
      try {
        await part.stop();
      } catch (err) {
        this.#log.error({ err, part: name }, 'part failed to stop');
      }
    }
    this.#started = [];
  }

  /** What the agent config printed at enrollment says about reaching the broker. */
  #agentConfigSettings(): AgentConfigSettings {
    const ports = this.broker.ports;
    const host = this.broker instanceof EmbeddedBroker ? this.broker.connectHost() : this.config.host;
    const embedded = ports?.mqtts !== undefined ? `mqtts://${host}:${ports.mqtts}` : `mqtt://${host}:${ports?.mqtt ?? this.config.mqttPort}`;
    return {
      brokerUrl: this.config.deviceBrokerUrl ?? (this.config.brokerMode === 'external' ? this.config.brokerUrl ?? embedded : embedded),
      passwordFile: '/etc/pdm-agent/mqtt.password',
      caFile: '/etc/pdm-agent/broker-ca.pem',
    };
  }

  ready(): ReadyInfo {
    const ports = this.broker.ports;
    return {
      version: CONTROLLER_VERSION,
      host: this.config.host,
      httpPort: this.http.port,
      mqttPort: ports?.mqtt ?? 0,
      wsPort: ports?.ws ?? 0,
      mqttsPort: ports?.mqtts ?? 0,
      deviceAuth: this.config.deviceAuth,
      brokerMode: this.config.brokerMode,
      brokerUrl: this.broker.linkOptions().url,
      dataDir: this.config.dataDir,
    };
  }
}

function embeddedBroker(config: ControllerConfig, log: Logger, credentials: DeviceCredentials, observer: LinkObserver): EmbeddedBroker {
  const tls = config.tlsCertFile === undefined || config.tlsKeyFile === undefined ? undefined : {
    port: config.mqttsPort, certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile, clientCerts: config.tlsClientCerts,
  };
  return new EmbeddedBroker({
    host: config.host, mqttPort: config.mqttPort, wsPort: config.wsPort, drainTimeoutMs: config.drainTimeoutMs, concurrency: config.brokerConcurrency,
    deviceAuth: config.deviceAuth, maxConnections: config.maxDeviceConnections,
    limits: { ratePerSecond: config.devicePublishRate, burst: config.devicePublishBurst }, tls, observer,
  }, log, credentials);
}

function externalBroker(config: ControllerConfig, log: Logger): ExternalBroker {
  return new ExternalBroker({
    url: config.brokerUrl ?? '', clientId: config.brokerClientId, username: config.brokerUsername, password: config.brokerPassword,
    passwordFile: config.brokerPasswordFile, caFile: config.brokerCaFile, certFile: config.brokerCertFile, keyFile: config.brokerKeyFile,
    rejectUnauthorized: config.brokerRejectUnauthorized, sessionExpirySec: config.brokerSessionExpirySec, sharedGroup: config.brokerSharedGroup,
  }, log);
}

/**
 * The broker side the controller runs or points at. The embedded implementation runs aedes in this
 * process; the external one (Mosquitto or any MQTT 5 broker) only describes how to reach it.
 */
import type { Health, LinkConnectOptions, MessageHandler } from './broker-link.js';

export interface BrokerPorts {
  mqtt: number;
  ws: number;
  /** MQTT over TLS, when the embedded broker has a certificate. */
  mqtts?: number;
}

/** Counts of a broker this process runs (for metrics). */
export interface BrokerStats {
  /** Connected clients, the controller's own link included. */
  clients: number;
  /** PUBLISH packets received from clients since start. */
  received: number;
  /** PUBLISH packets forwarded to subscribers since start. */
  sent: number;
  /** Connections, publishes, subscriptions and packets refused since start, by reason (broker-policy.ts). */
  refused: Readonly<Record<string, number>>;
  /** PUBLISH packets held back by the per-client rate limit since start. */
  throttled: number;
}

export interface BrokerHost {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Let devices connect; until then they are refused so nothing is acknowledged before ingest listens. */
  openToDevices(): void;
  /** Refuse and disconnect devices, so no message is acknowledged once ingest stops. */
  closeToDevices(): Promise<void>;
  /** How the controller's own link connects. */
  linkOptions(): LinkConnectOptions;
  /** Drops one client's connection (its last will fires); false when there is no such client or this broker cannot. */
  disconnect(clientId: string): Promise<boolean>;
  /** Real listening ports (after start); undefined for an external broker. */
  readonly ports: BrokerPorts | undefined;
  health(): Health;
  /** Undefined for a broker this process does not run. */
  stats(): BrokerStats | undefined;
  /**
   * Hands every device PUBLISH on an upstream topic (last wills included) to `handler` before the
   * broker acknowledges it: the PUBACK waits for the handler's promise, and a rejection closes the
   * device's connection unacknowledged (the device sends it again). False when this broker cannot (an
   * external one): the messages then come through the controller's own subscription.
   */
  takeUpstream(handler: MessageHandler): boolean;
}

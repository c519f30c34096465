/**
 * The broker side the controller runs or points at. The embedded implementation runs aedes in this
 * process; an external one (Mosquitto) will only describe how to reach it.
 */
import type { Health, LinkConnectOptions } from './broker-link.js';

export interface BrokerPorts {
  mqtt: number;
  ws: number;
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
  /** Real listening ports (after start); undefined for an external broker. */
  readonly ports: BrokerPorts | undefined;
  health(): Health;
}

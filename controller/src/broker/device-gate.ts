/**
 * Opens the broker to devices once ingest listens, and on stop closes it and drains the link before
 * ingest stops: every message a device got a PUBACK for has then been handled by ingest.
 */
import type { Logger } from '../logger.js';
import type { BrokerHost } from './broker-host.js';
import type { BrokerLink } from './broker-link.js';

export class DeviceGate {
  readonly #host: BrokerHost;
  readonly #link: BrokerLink;
  readonly #log: Logger;
  readonly #drainTimeoutMs: number;

  constructor(host: BrokerHost, link: BrokerLink, log: Logger, drainTimeoutMs = 5000) {
    this.#host = host;
    this.#link = link;
    this.#log = log;
    this.#drainTimeoutMs = drainTimeoutMs;
  }

  async start(): Promise<void> {
    this.#host.openToDevices();
  }

  async stop(): Promise<void> {
    await this.#host.closeToDevices();
    try {
      await this.#link.flush(this.#drainTimeoutMs);
    } catch (err) {
      this.#log.warn({ err }, 'link not drained before ingest stopped');
    }
  }
}

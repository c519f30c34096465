/**
 * Opens the broker to devices once ingest listens, and on stop closes it and drains the link before
 * ingest stops: every message a device got a PUBACK for has then been handled by ingest.
 *
 * With an external broker nothing can be closed: instead, an instance that shares its subscriptions
 * leaves the group (when another instance remains to take the traffic), drains, and then holds what
 * still arrives unacknowledged, so the broker keeps it in the session for the next start.
 */
import type { Logger } from '../logger.js';
import type { BrokerHost } from './broker-host.js';
import type { BrokerLink } from './broker-link.js';

export interface DeviceGateOptions {
  drainTimeoutMs?: number;
  /**
   * Asked once on stop: true when another instance of the shared group stays up. The last instance
   * keeps its shared subscriptions, so the broker queues the fleet's messages for it meanwhile.
   */
  othersRemain?: () => boolean;
}

export class DeviceGate {
  readonly #host: BrokerHost;
  readonly #link: BrokerLink;
  readonly #log: Logger;
  readonly #options: DeviceGateOptions;

  constructor(host: BrokerHost, link: BrokerLink, log: Logger, options: DeviceGateOptions = {}) {
    this.#host = host;
    this.#link = link;
    this.#log = log;
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#host.openToDevices();
  }

  async stop(): Promise<void> {
    await this.#host.closeToDevices();
    await this.#leaveGroup();
    try {
      await this.#link.flush(this.#options.drainTimeoutMs ?? 5000);
    } catch (err) {
      this.#log.warn({ err }, 'link not drained before ingest stopped');
    }
    this.#link.hold();
  }

  async #leaveGroup(): Promise<void> {
    try {
      if (this.#options.othersRemain?.() === true) await this.#link.leaveSharedGroup();
    } catch (err) {
      // Staying subscribed loses nothing: the broker queues this instance's share until it returns.
      this.#log.warn({ err }, 'could not leave the shared subscription group');
    }
  }
}

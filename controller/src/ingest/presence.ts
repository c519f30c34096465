/**
 * Presence: online/offline from up/status (each heartbeat, a clean stop, or the last will the broker
 * publishes when a link dies), last seen from any live message, and offline after the heartbeat
 * timeout when a device has gone silent without a will reaching us.
 *
 * While the controller's own link is down it hears nobody, so silence then says nothing about the
 * devices: sweeps are skipped, and after a reconnect every device gets one full timeout again.
 */
import { PdmError, type Status } from '@pdm/protocol';
import type { BrokerLink } from '../broker/broker-link.js';
import type { Clock } from '../clock.js';
import type { Database } from '../db/database.js';
import { DevicesRepo, type StatusApplied } from '../db/devices-repo.js';
import type { Logger } from '../logger.js';

export interface PresenceOptions {
  heartbeatTimeoutMs: number;
  /** How often to look for silent devices; default a quarter of the timeout, at most 5 s. */
  sweepIntervalMs?: number;
}

export class Presence {
  readonly #options: PresenceOptions;
  readonly #database: Database;
  readonly #link: BrokerLink;
  readonly #clock: Clock;
  readonly #log: Logger;
  #devices: DevicesRepo | undefined;
  #timer: NodeJS.Timeout | undefined;
  #offConnect: (() => void) | undefined;
  /** Silence is measured from no earlier than this: controller start or the last link reconnect. */
  #listeningSince = 0;

  constructor(options: PresenceOptions, database: Database, link: BrokerLink, clock: Clock, log: Logger) {
    this.#options = options;
    this.#database = database;
    this.#link = link;
    this.#clock = clock;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#devices = new DevicesRepo(this.#database.handle);
    this.#listeningSince = this.#clock.now();
    this.#offConnect = this.#link.onConnect(() => { this.#listeningSince = this.#clock.now(); });
    const interval = this.#options.sweepIntervalMs ?? Math.max(250, Math.min(5000, this.#options.heartbeatTimeoutMs / 4));
    this.#timer = setInterval(() => this.sweep(), interval);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#offConnect?.();
    this.#timer = undefined;
  }

  /** Applies a status message; call inside the ingest transaction. */
  applyStatus(status: Status, live: boolean): StatusApplied {
    const applied = this.#repo().applyStatus(status, this.#clock.now(), live);
    if (applied.previous !== applied.state) {
      const fields = { deviceId: status.deviceId, bootId: status.bootId, agentVersion: status.agentVersion, live };
      if (applied.state === 'online') this.#log.info(fields, 'device online');
      else this.#log.info({ ...fields, reason: status.reason ?? null }, 'device offline');
    }
    return applied;
  }

  /** Any message from a device; only live ones (not retained replays) move last seen. */
  seen(deviceId: string, live: boolean): void {
    this.#repo().touch(deviceId, this.#clock.now(), live);
  }

  /** Marks devices silent for longer than the timeout offline; returns their ids. */
  sweep(): string[] {
    if (this.#devices === undefined || !this.#link.connected) return [];
    const now = this.#clock.now();
    const expired: string[] = [];
    for (const d of this.#devices.online()) {
      const lastEvidence = Math.max(d.lastSeenAt ?? 0, d.stateChangedAt ?? 0, this.#listeningSince);
      if (now - lastEvidence < this.#options.heartbeatTimeoutMs) continue;
      if (this.#devices.markOffline(d.deviceId, 'timeout', now)) {
        expired.push(d.deviceId);
        this.#log.info({ deviceId: d.deviceId, reason: 'timeout', silentMs: now - lastEvidence }, 'device offline');
      }
    }
    return expired;
  }

  #repo(): DevicesRepo {
    if (this.#devices === undefined) throw new PdmError('INTERNAL', 'presence is not started');
    return this.#devices;
  }
}

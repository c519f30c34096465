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
import { type Database, writeTransaction } from '../db/database.js';
import { DevicesRepo, type StatusApplied } from '../db/devices-repo.js';
import type { Logger } from '../logger.js';

export interface PresenceOptions {
  heartbeatTimeoutMs: number;
  /** How often to look for silent devices; default a quarter of the timeout, at most 5 s. */
  sweepIntervalMs?: number;
  /** Timed sweeps run only while this says so: on the leader when several controllers share the database. */
  sweepWhen?: () => boolean;
}

export interface Transition {
  deviceId: string;
  state: 'online' | 'offline';
  /** For offline: 'stopped', 'lost' (last will) or 'timeout'. */
  reason: string | null;
}

export class Presence {
  readonly #options: PresenceOptions;
  readonly #database: Database;
  readonly #link: BrokerLink;
  readonly #clock: Clock;
  readonly #log: Logger;
  #devices: DevicesRepo | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<(t: Transition) => void>();
  #pendingSeen = new Map<string, { at: number; live: boolean }>();
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
    this.#timer = setInterval(() => {
      if (this.#options.sweepWhen?.() === false) return;
      try {
        this.sweep();
      } catch (err) {
        this.#log.error({ err }, 'presence sweep failed');
      }
    }, interval);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.flushSeen();
    clearInterval(this.#timer);
    this.#offConnect?.();
    this.#timer = undefined;
  }

  /**
   * Applies a status message; call inside the ingest transaction, then `announce` the returned
   * transition (if any) once the transaction has committed.
   */
  applyStatus(status: Status, live: boolean): StatusApplied & { transition?: Transition } {
    const applied = this.#repo().applyStatus(status, this.#clock.now(), live);
    if (applied.previous === applied.state) return applied;
    return { ...applied, transition: { deviceId: status.deviceId, state: status.state, reason: status.reason ?? null } };
  }

  /** Logs a committed transition and tells the listeners. */
  announce(t: Transition): void {
    if (t.state === 'online') this.#log.info({ deviceId: t.deviceId }, 'device online');
    else this.#log.info({ deviceId: t.deviceId, reason: t.reason }, 'device offline');
    for (const listener of this.#listeners) {
      try {
        listener(t);
      } catch (err) {
        this.#log.error({ err }, 'presence listener failed');
      }
    }
  }

  /**
   * Any message from a device; only live ones (not retained replays) move last seen. Written once per
   * event-loop turn for all devices seen in it, not in each record's transaction (see counters.ts).
   */
  seen(deviceId: string, live: boolean): void {
    if (this.#pendingSeen.size === 0) setImmediate(() => this.#flushLater());
    const at = this.#clock.now();
    const prev = this.#pendingSeen.get(deviceId);
    this.#pendingSeen.set(deviceId, { at, live: live || prev?.live === true });
  }

  /** Writes pending last-seen times now. */
  flushSeen(): void {
    if (this.#pendingSeen.size === 0 || this.#devices === undefined) return;
    const devices = this.#devices;
    const pending = this.#pendingSeen;
    writeTransaction(this.#database.handle, () => {
      for (const [deviceId, { at, live }] of pending) devices.touch(deviceId, at, live);
    })();
    this.#pendingSeen = new Map();
  }

  #flushLater(): void {
    try {
      this.flushSeen();
    } catch (err) {
      this.#log.error({ err }, 'last-seen times not written; will retry');
      setTimeout(() => this.#flushLater(), 1000).unref();
    }
  }

  /** Marks devices silent for longer than the timeout offline; returns their ids. */
  sweep(): string[] {
    if (this.#devices === undefined || !this.#link.connected) return [];
    this.flushSeen();
    const now = this.#clock.now();
    const expired: string[] = [];
    for (const d of this.#devices.online()) {
      const lastEvidence = Math.max(d.lastSeenAt ?? 0, d.stateChangedAt ?? 0, this.#listeningSince);
      if (now - lastEvidence < this.#options.heartbeatTimeoutMs) continue;
      if (this.#devices.markOffline(d.deviceId, 'timeout', now)) {
        expired.push(d.deviceId);
        this.announce({ deviceId: d.deviceId, state: 'offline', reason: 'timeout' });
      }
    }
    return expired;
  }

  /** Online/offline changes; the listener runs after the change is stored. Returns an unsubscribe function. */
  onTransition(listener: (t: Transition) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #repo(): DevicesRepo {
    if (this.#devices === undefined) throw new PdmError('INTERNAL', 'presence is not started');
    return this.#devices;
  }
}

/**
 * Brings every device to the current key set. After a rotation, each device must accept the new key
 * set, signed by a key it trusts, before anything signed by the new key reaches it; a device that was
 * offline during the rotation gets the whole chain (v2 signed by v1, v3 by v2, ...) in order when it
 * comes back. What each device confirmed is stored (`device_trust`), so a controller restart does not
 * resend everything. The rollout engine calls `ensure` before it sends a device a manifest.
 */
import { isPdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Commands } from '../commands/commands.js';
import type { Database } from '../db/database.js';
import type { DevicesRepo } from '../db/devices-repo.js';
import type { StatusSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import type { SigningKeys } from './signing-keys.js';

/** A device that refused a key set is not asked again for this long. */
const RETRY_AFTER_REFUSAL_MS = 60_000;

export class TrustSync {
  readonly #keys: SigningKeys;
  readonly #database: Database;
  readonly #statuses: StatusSource;
  readonly #commands: Commands;
  readonly #devices: () => DevicesRepo;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #inFlight = new Map<string, Promise<boolean>>();
  readonly #refusedAt = new Map<string, number>();
  #off: (() => void) | undefined;

  constructor(keys: SigningKeys, database: Database, statuses: StatusSource, commands: Commands, devices: () => DevicesRepo, clock: Clock, log: Logger) {
    this.#keys = keys;
    this.#database = database;
    this.#statuses = statuses;
    this.#commands = commands;
    this.#devices = devices;
    this.#clock = clock;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#off = this.#statuses.onStatus((s) => { if (s.state === 'online') void this.ensure(s.deviceId); });
  }

  async stop(): Promise<void> {
    this.#off?.();
    this.#off = undefined;
  }

  /** The key set version a device confirmed (0: none confirmed; it trusts what its config holds). */
  confirmed(deviceId: string): number {
    return (this.#database.handle.prepare('SELECT key_set_version FROM device_trust WHERE device_id = ?').pluck().get(deviceId) as number | undefined) ?? 0;
  }

  /**
   * Resolves true once the device trusts the current key set. With only the first key set there is
   * nothing to send: devices are configured with it (keys/trust.json).
   */
  ensure(deviceId: string): Promise<boolean> {
    const current = this.#keys.keySet().version;
    if (current === 1 || this.confirmed(deviceId) >= current) return Promise.resolve(true);
    const refused = this.#refusedAt.get(deviceId);
    if (refused !== undefined && this.#clock.now() - refused < RETRY_AFTER_REFUSAL_MS) return Promise.resolve(false);
    const running = this.#inFlight.get(deviceId);
    if (running !== undefined) return running;
    const run = this.#push(deviceId).finally(() => this.#inFlight.delete(deviceId));
    this.#inFlight.set(deviceId, run);
    return run;
  }

  /** After a rotation: every known device, at once (offline ones catch up when they return). */
  async pushAll(): Promise<{ devices: number; confirmed: number }> {
    const ids = this.#devices().ids();
    const results = await Promise.all(ids.map((id) => this.ensure(id)));
    return { devices: ids.length, confirmed: results.filter(Boolean).length };
  }

  async #push(deviceId: string): Promise<boolean> {
    // a rotation during the push adds to the chain: keep going until the device has the newest set
    while (this.confirmed(deviceId) < this.#keys.keySet().version) {
      if (!(await this.#pushChain(deviceId))) return false;
    }
    this.#refusedAt.delete(deviceId);
    return true;
  }

  async #pushChain(deviceId: string): Promise<boolean> {
    for (const { keySet, envelope } of this.#keys.chainAfter(Math.max(1, this.confirmed(deviceId)))) {
      if (envelope === undefined) continue;
      try {
        // one id per (device, key set version): a resend is answered by the device without acting twice
        await this.#commands.send(deviceId, { type: 'trust-keys', envelope }, { id: `trust-keys-v${keySet.version}-${deviceId}`.slice(0, 64) });
      } catch (err) {
        const reason = isPdmError(err, 'MANIFEST_REJECTED') ? /^rejected:([a-z-]+)/.exec(err.message)?.[1] : undefined;
        // the device already holds this version or a later one: as good as accepted
        if (reason !== 'already-installed' && reason !== 'rollback') {
          if (isPdmError(err, 'MANIFEST_REJECTED') || isPdmError(err, 'COMMAND_UNSUPPORTED')) this.#refusedAt.set(deviceId, this.#clock.now());
          this.#log.warn({ deviceId, version: keySet.version, code: isPdmError(err) ? err.code : 'INTERNAL', reason }, 'device did not take the key set');
          return false;
        }
      }
      this.#database.handle.prepare(`INSERT INTO device_trust (device_id, key_set_version, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (device_id) DO UPDATE SET key_set_version = MAX(key_set_version, excluded.key_set_version), updated_at = excluded.updated_at`)
        .run(deviceId, keySet.version, this.#clock.now());
      this.#log.info({ deviceId, version: keySet.version }, 'device trusts key set');
    }
    return true;
  }
}

/**
 * Brings each device of a rollout to what the rollout wants there, through signed manifests sent as
 * `deploy` commands. Correctness never depends on a command arriving: every online status and every
 * engine tick compares what the device reports with what it should run, and acts on a difference:
 *
 * - not sent yet, or its manifest expired: (re)sign and send;
 * - sent, unanswered for `resendAfterMs`: send the same command again (same id: the device answers a
 *   repeated id without acting twice);
 * - answered, yet still not in line after `resignAfterMs` and not visibly progressing: sign a fresh
 *   manifest (a higher release) and send it, at most `maxAttempts` times per want;
 * - a device that reported a failure of the new version is left alone: the stage's gates judge it.
 *
 * Before the first manifest a device gets under a rotated key, TrustSync brings it to the current
 * key set.
 */
import { createHash } from 'node:crypto';
import { isPdmError, type Reply } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Commands } from '../commands/commands.js';
import type { Logger } from '../logger.js';
import type { ManifestRequest, ManifestSigner, SignedManifest } from '../registry/manifest-signer.js';
import type { TrustSync } from '../registry/trust-sync.js';
import type { EvidenceQuery } from './evidence.js';
import type { Rollout, RolloutDevice, RolloutsRepo } from './rollouts-repo.js';
import { inSync, type FleetDevice } from './targeting.js';

export interface DeviceSyncOptions {
  commandTimeoutMs: number;
  resendAfterMs: number;
  resignAfterMs: number;
  maxAttempts: number;
}

const PROGRESSING = new Set(['received', 'downloading', 'installed', 'trial']);

/** The command id of one manifest for one device: stable, so a resend is recognised as one. */
export function deployCommandId(deploymentId: string, deviceId: string): string {
  return `${deploymentId.slice(0, 40)}:${createHash('sha256').update(deviceId).digest('hex').slice(0, 16)}`;
}

export class DeviceSync {
  readonly #inFlight = new Set<string>();
  readonly #gaveUp = new Set<string>();
  /** Devices heard going offline, and when they came back: an unanswered manifest is resent at once. */
  readonly #away = new Set<string>();
  readonly #returnedAt = new Map<string, number>();
  /**
   * Deploy commands not answered within the command timeout, by command id: their answer may still
   * come (a loaded device or link), and it counts then, instead of the manifest going out again.
   */
  readonly #late = new Map<string, { rolloutId: string; deviceId: string }>();

  constructor(
    private readonly options: DeviceSyncOptions,
    private readonly deps: {
      repo: () => RolloutsRepo;
      evidence: () => EvidenceQuery;
      signer: ManifestSigner;
      trust: TrustSync;
      commands: Commands;
      clock: Clock;
      log: Logger;
      /** Called when a delivery ended, answered or not (the engine re-evaluates and looks at the device again). */
      onAnswer: (deviceId: string) => void;
    },
  ) {}

  /** Commands still waiting for an answer (for tests and shutdown). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** The device said it is offline (clean stop or last will). */
  away(deviceId: string): void {
    this.#away.add(deviceId);
  }

  /** The device is online; if it was away, what it missed meanwhile goes out without waiting. */
  online(deviceId: string): void {
    if (this.#away.delete(deviceId)) this.#returnedAt.set(deviceId, this.deps.clock.now());
  }

  /** A device's reply on up/reply: an answer to a deploy command that timed out here is recorded now. */
  lateReply(reply: Reply): void {
    const sent = this.#late.get(reply.commandId);
    if (sent === undefined || sent.deviceId !== reply.deviceId) return;
    this.#late.delete(reply.commandId);
    const answer = reply.status === 'ok' ? replyStatus(reply.data) : rejection(reply.error.code, reply.error.message);
    if (answer === undefined) return;
    this.deps.repo().markAnswered(sent.rolloutId, sent.deviceId, reply.commandId, answer, this.deps.clock.now());
    this.deps.log.info({ rolloutId: sent.rolloutId, deviceId: sent.deviceId, commandId: reply.commandId, answer }, 'late answer to a manifest recorded');
    this.deps.onAnswer(sent.deviceId);
  }

  /** Acts on one device of one rollout if it is online and not in line; `failed`: it reported a failure of the new version. */
  drive(r: Rollout, row: RolloutDevice, dev: FleetDevice | undefined, failed: boolean): void {
    if (dev === undefined || !dev.online || row.want === 'pending') return;
    if (inSync(row.want, dev.models, r.model, r.spec.mode, row.baseline)) return;
    if (row.want === 'candidate' && failed) return;
    // nothing to return it to (said once, when the rollback was decided)
    if (row.want === 'baseline' && row.baseline === null && r.spec.previousVersion === undefined) return;
    const key = `${r.id}/${row.deviceId}`;
    if (this.#inFlight.has(key)) return;
    const now = this.deps.clock.now();
    const signed = row.deploymentId === null ? undefined : this.deps.signer.get(row.deploymentId);
    // a manifest about to expire could do so on its way or in the device's queue
    const usable = signed !== undefined && signed.expiresAt - now > this.options.resendAfterMs;
    if (usable && row.commandId !== null) {
      if (row.sentAt === null) return this.#send(r, row.deviceId, signed, row.commandId);
      if (row.answeredAt === null) {
        const returned = (this.#returnedAt.get(row.deviceId) ?? 0) >= row.sentAt;
        if (returned || now - row.sentAt >= this.options.resendAfterMs) this.#send(r, row.deviceId, signed, row.commandId);
        return;
      }
      if (!this.#stale(row, now)) return;
    }
    if (row.attempts >= this.options.maxAttempts) {
      if (!this.#gaveUp.has(key)) this.deps.log.error({ rolloutId: r.id, deviceId: row.deviceId, want: row.want, attempts: row.attempts }, 'device does not take the rollout; giving up');
      this.#gaveUp.add(key);
      return;
    }
    const fresh = this.sign(r, row.want === 'baseline' ? 'rollback' : 'join', row.deviceId, row.want === 'baseline' ? row.baseline : undefined);
    if (fresh === undefined) return;
    const commandId = deployCommandId(fresh.deploymentId, row.deviceId);
    this.deps.repo().setManifest(r.id, row.deviceId, fresh.deploymentId, commandId);
    this.#send(r, row.deviceId, fresh, commandId);
  }

  /** Signs a manifest for one device: of the new version (stage, join) or its previous one (rollback). */
  sign(r: Rollout, purpose: 'stage' | 'join' | 'rollback', deviceId: string, baseline?: RolloutDevice['baseline']): SignedManifest | undefined {
    return this.signEach(r, purpose, [deviceId], baseline).get(deviceId);
  }

  /**
   * Signs one manifest per device, each naming only its device (in one transaction): a stage's deploy
   * commands stay small whatever its size (one manifest naming 1,000 devices made each command ~15 KB,
   * bench:rollout), and a manifest captured for one device is refused by every other (`rejected:target`).
   * Empty when a rollback has no version to return to.
   */
  signEach(r: Rollout, purpose: 'stage' | 'join' | 'rollback', deviceIds: readonly string[], baseline?: RolloutDevice['baseline']): Map<string, SignedManifest> {
    const request = this.#request(r, purpose, deviceIds, baseline);
    if (request === undefined) return new Map();
    const signed = this.deps.signer.signMany(deviceIds.map((id) => ({ ...request, target: { deviceIds: [id] } })));
    return new Map(deviceIds.map((id, i) => [id, signed[i]!]));
  }

  #request(r: Rollout, purpose: 'stage' | 'join' | 'rollback', deviceIds: readonly string[], baseline?: RolloutDevice['baseline']): Omit<ManifestRequest, 'target'> | undefined {
    if (purpose !== 'rollback') return { model: r.model, mode: r.spec.mode, purpose, rolloutId: r.id };
    const version = baseline?.version ?? r.spec.previousVersion;
    if (version === undefined) {
      this.deps.log.error({ rolloutId: r.id, deviceIds }, 'no version to roll back to');
      return undefined;
    }
    // the device's own active model before the rollout; its mode, or alert for a configured model
    const mode = baseline?.mode ?? (r.spec.mode === 'shadow' ? 'alert' : r.spec.mode);
    return { model: { name: baseline?.name ?? r.model.name, version }, mode, purpose, rolloutId: r.id };
  }

  /** Sends a manifest now (after a stage start or a rollback), unless one is on its way. */
  sendNow(r: Rollout, deviceId: string, signed: SignedManifest, commandId: string): void {
    if (this.#inFlight.has(`${r.id}/${deviceId}`)) return;
    this.#send(r, deviceId, signed, commandId);
  }

  /**
   * Answered, yet not in line: a download the network cut short is retried with a fresh manifest
   * soon; otherwise after resignAfterMs without a sign of progress on the current manifest.
   */
  #stale(row: RolloutDevice, now: number): boolean {
    // this device's records only: reading the whole deployment's and filtering made each tick O(devices^2) (bench:rollout)
    const records = this.deps.evidence().deviceStatuses(row.deploymentId!, row.deviceId);
    const latest = records[records.length - 1];
    if (latest?.status === 'failed:download') return now - row.answeredAt! >= this.options.resendAfterMs;
    if (now - row.answeredAt! < this.options.resignAfterMs) return false;
    return latest === undefined || !PROGRESSING.has(latest.status) || now - row.answeredAt! >= 4 * this.options.resignAfterMs;
  }

  #send(r: Rollout, deviceId: string, signed: SignedManifest, commandId: string): void {
    const key = `${r.id}/${deviceId}`;
    this.#inFlight.add(key);
    void this.#deliver(r, deviceId, signed, commandId).finally(() => {
      this.#inFlight.delete(key);
      this.deps.onAnswer(deviceId);
    });
  }

  async #deliver(r: Rollout, deviceId: string, signed: SignedManifest, commandId: string): Promise<void> {
    const { repo, clock, log } = this.deps;
    if (!(await this.deps.trust.ensure(deviceId))) {
      log.warn({ rolloutId: r.id, deviceId }, 'device does not trust the current key set yet; manifest held back');
      return;
    }
    repo().markSent(r.id, deviceId, clock.now());
    try {
      const reply = await this.deps.commands.send(deviceId, { type: 'deploy', envelope: signed.envelope }, { id: commandId, timeoutMs: this.options.commandTimeoutMs });
      this.#late.delete(commandId);
      const status = replyStatus(reply.data);
      repo().markAnswered(r.id, deviceId, commandId, status, clock.now());
      log.info({ rolloutId: r.id, deviceId, deploymentId: signed.deploymentId, answer: status }, 'manifest delivered');
    } catch (err) {
      const reason = isPdmError(err) ? rejection(err.code, err.message) : undefined;
      if (reason !== undefined) {
        this.#late.delete(commandId);
        repo().markAnswered(r.id, deviceId, commandId, reason, clock.now());
        log.warn({ rolloutId: r.id, deviceId, deploymentId: signed.deploymentId, answer: reason }, 'manifest refused by device');
        return;
      }
      if (isPdmError(err, 'COMMAND_TIMEOUT')) this.#late.set(commandId, { rolloutId: r.id, deviceId });
      // no answer (offline, link down): the next tick or status after resendAfterMs sends it again
      log.info({ rolloutId: r.id, deviceId, code: isPdmError(err) ? err.code : 'INTERNAL' }, 'manifest not answered');
    }
  }
}

/** What an ok answer to a deploy command says (received, already-active, ...); `ok` when it says nothing. */
function replyStatus(data: Record<string, unknown> | undefined): string {
  return typeof data?.status === 'string' ? data.status : 'ok';
}

/** A device's refusal of a manifest as its answer (`rejected:<reason>`); undefined for any other error. */
function rejection(code: string, message: string): string | undefined {
  if (code !== 'MANIFEST_REJECTED') return undefined;
  return /^(rejected:[a-z-]+)/.exec(message)?.[1] ?? 'rejected';
}

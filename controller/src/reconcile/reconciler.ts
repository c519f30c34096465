/**
 * Reconciliation: correctness never depends on messages queued in the broker. Whenever a device says
 * it is online, what it reports is compared with what the controller wants it to run, and the result
 * is recorded (the device API shows it). Whenever the controller's own link (re)connects, it asks
 * every known device to report its state again, so nothing the controller missed meanwhile matters.
 * Acting on a difference (sending a deployment) is the rollout engine's job.
 */
import { isPdmError, type Status } from '@pdm/protocol';
import type { BrokerLink } from '../broker/broker-link.js';
import type { Clock } from '../clock.js';
import type { Commands } from '../commands/commands.js';
import type { Database } from '../db/database.js';
import { DevicesRepo } from '../db/devices-repo.js';
import { ReconcileRepo, type ReconcileResult } from '../db/reconcile-repo.js';
import type { StatusSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import { compareModels } from './diff.js';

export interface ReportRound {
  asked: number;
  replied: number;
  failed: Record<string, number>;
}

export interface ReconcilerOptions {
  /** Report rounds run only while this says so: on the leader when several controllers share the database. */
  roundsWhen?: () => boolean;
}

export class Reconciler {
  readonly #database: Database;
  readonly #link: BrokerLink;
  readonly #statuses: StatusSource;
  readonly #commands: Commands;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #options: ReconcilerOptions;
  #repo: ReconcileRepo | undefined;
  #devices: DevicesRepo | undefined;
  #off: (() => void)[] = [];
  #lastRound: Promise<ReportRound> | undefined;

  constructor(database: Database, link: BrokerLink, statuses: StatusSource, commands: Commands, clock: Clock, log: Logger,
    options: ReconcilerOptions = {}) {
    this.#options = options;
    this.#database = database;
    this.#link = link;
    this.#statuses = statuses;
    this.#commands = commands;
    this.#clock = clock;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#repo = new ReconcileRepo(this.#database.handle);
    this.#devices = new DevicesRepo(this.#database.handle);
    this.#off.push(this.#statuses.onStatus((status) => { if (status.state === 'online') this.check(status); }));
    const round = () => { if (this.#options.roundsWhen?.() !== false) this.#lastRound = this.requestReports(); };
    this.#off.push(this.#link.onConnect(round));
    // The link is already up when this part starts: the first round is not triggered by a connect.
    round();
  }

  async stop(): Promise<void> {
    for (const off of this.#off) off();
    this.#off = [];
  }

  /** The last report round started (for tests and diagnostics). */
  get lastRound(): Promise<ReportRound> | undefined {
    return this.#lastRound;
  }

  /** Compares desired with reported for one device and records the result; logs only changes. */
  check(status: Status): ReconcileResult {
    const repo = this.#repo!;
    const result = compareModels(repo.desired(status.deviceId), status.models);
    const changed = repo.save(status.deviceId, result, this.#clock.now());
    if (changed && result.status === 'drift') {
      this.#log.warn({ deviceId: status.deviceId, missing: result.missing, unexpected: result.unexpected }, 'device differs from desired state');
    } else if (changed) {
      this.#log.info({ deviceId: status.deviceId, status: result.status }, 'device reconciled');
    }
    return result;
  }

  /** Asks every known device to republish its status (report-state); never throws. */
  async requestReports(): Promise<ReportRound> {
    const ids = this.#devices!.ids();
    const results = await Promise.allSettled(ids.map((id) => this.#commands.send(id, { type: 'report-state' })));
    const round: ReportRound = { asked: ids.length, replied: 0, failed: {} };
    for (const r of results) {
      if (r.status === 'fulfilled') round.replied += 1;
      else {
        const code = isPdmError(r.reason) ? r.reason.code : 'INTERNAL';
        round.failed[code] = (round.failed[code] ?? 0) + 1;
      }
    }
    // Offline devices time out here by nature; their state arrives when they reconnect.
    this.#log.info(round, 'state reports requested');
    return round;
  }
}

/**
 * The rollout engine: advances running rollouts stage by stage on evidence, rolls back on a failed
 * gate, pauses a stage that times out, and keeps every device of every rollout in line with what the
 * rollout wants there, including devices that join, return or restart later.
 *
 * All state is in the database (rollouts-repo.ts); the engine holds none that matters, so a restart
 * resumes mid-stage: the stage clock, the devices taken in and the manifests sent are all there. Time
 * is the injected clock; `tick()` runs every `tickMs` and soon after a deployment status arrives, and
 * tests call it directly with a manual clock.
 */
import { isoTime, type Clock } from '../clock.js';
import type { AuditLog } from '../audit/audit-log.js';
import { CONTROLLER_ACTOR, type Actor } from '../auth/roles.js';
import type { Commands } from '../commands/commands.js';
import { type Database, writeTransaction } from '../db/database.js';
import { ReconcileRepo } from '../db/reconcile-repo.js';
import type { UpstreamSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import type { ManifestSigner } from '../registry/manifest-signer.js';
import type { TrustSync } from '../registry/trust-sync.js';
import { DeviceSync, deployCommandId, type DeviceSyncOptions } from './device-sync.js';
import { StageJudge, type Evaluation } from './judge.js';
import type { QualityEvidenceProvider } from './quality.js';
import { RolloutsRepo, type Rollout, type RolloutDevice } from './rollouts-repo.js';
import { FleetQuery, baselineOf, chooseDevices, desiredModels, matchesTarget, stageSize, type FleetDevice } from './targeting.js';

/** The shortest wait between a kick and its tick: a burst of records makes one tick. */
const KICK_DELAY_MS = 50;
/** Deployment statuses that can change a stage's verdict. */
const DECISIVE = /^(committed|reverted|failed:|rejected:)/;

export interface RolloutEngineOptions extends DeviceSyncOptions {
  tickMs: number;
}

export interface RolloutEngineDeps {
  database: Database;
  signer: ManifestSigner;
  trust: TrustSync;
  commands: Commands;
  upstream: UpstreamSource;
  audit: AuditLog;
  clock: Clock;
  log: Logger;
}

export class RolloutEngine {
  readonly #options: RolloutEngineOptions;
  readonly #deps: RolloutEngineDeps;
  readonly sync: DeviceSync;
  #repo: RolloutsRepo | undefined;
  #judge: StageJudge | undefined;
  #fleetQuery: FleetQuery | undefined;
  #desiredRepo: ReconcileRepo | undefined;
  #running = false;
  /** The models each device last reported, to tell a change from a repeated heartbeat. */
  readonly #lastModels = new Map<string, string>();
  #quality: QualityEvidenceProvider | undefined;
  #offs: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #kickTimer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  /** The tick asked for while one runs, and whether it sweeps every device. */
  #next: Promise<void> | undefined;
  #nextSweeps = false;
  /** Devices to look at on the next kicked tick (a delivery to them ended). */
  readonly #kicked = new Set<string>();
  /** Wall time of the last tick (CPU spent, not the injected clock's time): paces kicks. */
  #lastTickMs = 0;

  constructor(options: RolloutEngineOptions, deps: RolloutEngineDeps) {
    this.#options = options;
    this.#deps = deps;
    this.sync = new DeviceSync(options, {
      repo: () => this.repo, evidence: () => this.judge.evidence, signer: deps.signer, trust: deps.trust,
      commands: deps.commands, clock: deps.clock, log: deps.log, onAnswer: (deviceId) => this.kick(deviceId),
    });
  }

  async start(): Promise<void> {
    this.#running = true;
    const up = this.#deps.upstream;
    this.#offs.push(up.on('status', (s) => {
      if (s.state === 'offline') {
        this.sync.away(s.deviceId);
        this.#lastModels.delete(s.deviceId);
        return;
      }
      // heartbeats repeat the same status every few seconds: only a device that (re)appears or whose
      // models changed needs looking at now; the others are covered by the regular tick
      const models = JSON.stringify(s.models);
      if (this.#lastModels.get(s.deviceId) === models) return;
      this.#lastModels.set(s.deviceId, models);
      this.#safely(() => this.deviceOnline(s.deviceId));
    }));
    // a deployment status that ends a device's attempt can decide a stage at once (the progress ones
    // cannot: a kick for each of them kept the engine ticking back to back); metric windows, predictions and comparisons
    // accumulate and are read on the regular tick (reading them after every record would cost more
    // than ingesting them)
    this.#offs.push(up.on('deployment', (d) => { if (DECISIVE.test(d.status)) this.kick(); }));
    this.#offs.push(up.on('reply', (reply) => this.#safely(() => this.sync.lateReply(reply))));
    this.#timer = setInterval(() => void this.tick(), this.#options.tickMs);
    this.#timer.unref();
    const resumed = this.repo.inStates(['running', 'paused']);
    if (resumed.length > 0) this.#deps.log.info({ rollouts: resumed.map((r) => ({ id: r.id, state: r.state, stage: r.stage })) }, 'resuming rollouts');
    this.kick();
  }

  async stop(): Promise<void> {
    for (const off of this.#offs) off();
    this.#offs = [];
    clearInterval(this.#timer);
    clearTimeout(this.#kickTimer);
    this.#kickTimer = undefined;
    this.#running = false;
    await this.#ticking;
  }

  // The data is readable whether or not this instance drives rollouts (the API runs on every instance).
  get repo(): RolloutsRepo {
    return (this.#repo ??= new RolloutsRepo(this.#deps.database.handle));
  }

  get judge(): StageJudge {
    return (this.#judge ??= new StageJudge(this.#deps.database.handle, () => this.#quality, this.#options.maxAttempts));
  }

  get #fleet(): FleetQuery {
    return (this.#fleetQuery ??= new FleetQuery(this.#deps.database.handle));
  }

  get #desired(): ReconcileRepo {
    return (this.#desiredRepo ??= new ReconcileRepo(this.#deps.database.handle));
  }

  /** Plugs in the model-quality numbers (the model-quality part of the controller). */
  setQualityProvider(provider: QualityEvidenceProvider | undefined): void {
    this.#quality = provider;
  }

  /**
   * Schedules a tick soon, to judge the rollouts (a decisive deployment status, an answer, a new
   * rollout; with a device: also bring that device in line); bursts make one tick. The wait is at
   * least three times what the last tick took, so kicked ticks use at most a quarter of the CPU and
   * the MQTT work (chunks, statuses) keeps the rest (a stage of 1,000 devices commits in a stream); and a
   * kicked tick does not sweep every device, which the regular tick does (bench:rollout: back-to-back
   * ticks sweeping 1,000 devices took half the controller's CPU).
   */
  kick(deviceId?: string): void {
    if (deviceId !== undefined) this.#kicked.add(deviceId);
    if (this.#kickTimer !== undefined || !this.#running) return;
    this.#kickTimer = setTimeout(() => { this.#kickTimer = undefined; void this.#request(false); }, Math.max(KICK_DELAY_MS, 3 * this.#lastTickMs));
    this.#kickTimer.unref();
  }

  /**
   * One pass over every rollout, and every device brought in line; ticks never overlap (one asked for
   * meanwhile runs right after, and the promise settles when that one has run).
   */
  tick(): Promise<void> {
    return this.#request(true);
  }

  #request(sweep: boolean): Promise<void> {
    if (this.#ticking === undefined) {
      const started = performance.now();
      this.#ticking = this.#tickOnce(sweep).finally(() => {
        this.#lastTickMs = performance.now() - started;
        this.#ticking = undefined;
      });
      return this.#ticking;
    }
    this.#nextSweeps ||= sweep;
    return (this.#next ??= this.#ticking.then(() => {
      const next = this.#nextSweeps;
      this.#next = undefined;
      this.#nextSweeps = false;
      return this.#request(next);
    }));
  }

  async #tickOnce(sweep: boolean): Promise<void> {
    if (!this.#running) return;
    for (const r of this.repo.inStates(['running', 'paused'])) {
      try {
        await this.#advance(r);
      } catch (err) {
        this.#deps.log.error({ err, rolloutId: r.id }, 'rollout step failed; retried next tick');
      }
    }
    const kicked = [...this.#kicked];
    this.#kicked.clear();
    if (sweep) this.#safely(() => this.#sweep());
    else for (const deviceId of kicked) this.#safely(() => this.#sweep(deviceId));
  }

  /** One step of a running or paused rollout. */
  async #advance(r: Rollout): Promise<void> {
    if (r.stageStartedAt === null) {
      if (r.state === 'running') this.startStage(r, 0);
      return;
    }
    const now = this.#deps.clock.now();
    const ev = await this.judge.evaluate(r, this.repo, now);
    const current = this.repo.get(r.id);
    // a person may have acted while the evidence was gathered
    if (current === undefined || current.state !== r.state || current.stage !== r.stage) return;
    this.repo.saveEvaluation(r.id, r.stage, ev, ev.activatedAt === null ? null : Date.parse(ev.activatedAt));
    if (ev.verdict === 'fail') {
      this.rollback(r, CONTROLLER_ACTOR, `stage ${r.stage + 1} failed: ${failedGates(ev)}`, 'failed');
      return;
    }
    // a paused rollout is still watched for failures, but waits for a person otherwise
    if (r.state === 'paused') return;
    if (ev.verdict === 'pass') this.passStage(r, CONTROLLER_ACTOR, 'passed', undefined);
    else if (ev.verdict === 'timeout') this.#timedOut(r, ev);
  }

  #timedOut(r: Rollout, ev: Evaluation): void {
    const stage = r.spec.stages[r.stage]!;
    const unknown = ev.devices.filter((d) => d.outcome === 'unknown').map((d) => d.deviceId);
    const holding = ev.gates.filter((g) => g.status === 'insufficient' && g.optional !== true).map((g) => `${g.gate} (${g.detail})`);
    const reason = `stage ${r.stage + 1} timed out after ${stage.timeoutSeconds}s without evidence: ${holding.join('; ')}`
      + (unknown.length > 0 ? `; unknown devices: ${unknown.slice(0, 20).join(', ')}` : '');
    if (stage.onTimeout === 'rollback') {
      this.rollback(r, CONTROLLER_ACTOR, reason, 'timed-out');
      return;
    }
    writeTransaction(this.#deps.database.handle, () => {
      this.repo.setState(r.id, 'paused', reason, this.#deps.clock.now());
      this.#deps.audit.record({ actor: CONTROLLER_ACTOR, action: 'rollout.pause', target: { type: 'rollout', id: r.id }, reason, detail: { stage: r.stage, unknown } });
    })();
    this.#deps.log.warn({ rolloutId: r.id, stage: r.stage, unknown }, 'rollout stage timed out; paused');
  }

  /** Ends the current stage as passed (or promoted by hand) and starts the next, or completes. */
  passStage(r: Rollout, actor: Actor, outcome: 'passed' | 'promoted', reason: string | undefined): void {
    const now = this.#deps.clock.now();
    const last = r.stage === r.spec.stages.length - 1;
    writeTransaction(this.#deps.database.handle, () => {
      this.repo.endStage(r.id, r.stage, outcome, now);
      this.#deps.audit.record({
        actor, action: outcome === 'promoted' ? 'rollout.promote' : 'rollout.stage-pass', target: { type: 'rollout', id: r.id }, reason, detail: { stage: r.stage },
      });
      if (!last && r.state !== 'running') this.repo.setState(r.id, 'running', null, now);
      if (last) {
        this.repo.setState(r.id, 'completed', reason ?? `all ${r.spec.stages.length} stages passed`, now);
        this.#deps.audit.record({ actor, action: 'rollout.complete', target: { type: 'rollout', id: r.id }, detail: { model: r.model } });
      }
    })();
    this.#deps.log.info({ rolloutId: r.id, stage: r.stage, outcome, by: actor.name }, last ? 'rollout completed' : 'rollout stage passed');
    if (!last) this.startStage({ ...r, state: 'running' }, r.stage + 1);
  }

  /** Takes the stage's share of the targeted devices in and sends them the new version. */
  startStage(r: Rollout, stage: number): void {
    const now = this.#deps.clock.now();
    const fleet = this.#fleet.all().filter((d) => matchesTarget(r.spec.target, d));
    for (const d of fleet) this.repo.addDevice({ rolloutId: r.id, deviceId: d.deviceId, at: now });
    const rows = this.repo.devices(r.id);
    const given = rows.filter((d) => d.want !== 'pending').length;
    const online = new Map(fleet.map((d) => [d.deviceId, d]));
    const pending = rows.filter((d) => d.want === 'pending').map((d) => ({ deviceId: d.deviceId, online: online.get(d.deviceId)?.online ?? false }));
    const chosen = chooseDevices(pending, stageSize(r.spec.stages[stage]!, rows.length, given) - given).map((d) => d.deviceId);
    const signed = this.sync.signEach(r, 'stage', chosen);
    const deployments = [...signed.values()].map((m) => m.deploymentId);
    writeTransaction(this.#deps.database.handle, () => {
      this.repo.setStage(r.id, stage, now);
      for (const [id, m] of signed) this.#assign(r, id, stage, m.deploymentId, now);
      this.#deps.audit.record({
        actor: CONTROLLER_ACTOR, action: 'rollout.stage-start', target: { type: 'rollout', id: r.id },
        // one manifest per device, of consecutive releases: the first and last name them all
        detail: { stage, devices: chosen, deployments: deployments.length === 0 ? null : { first: deployments[0], last: deployments.at(-1) }, targeted: rows.length },
      });
    })();
    this.#deps.log.info({ rolloutId: r.id, stage, devices: chosen.length, targeted: rows.length }, 'rollout stage started');
    for (const [id, m] of signed) this.sync.sendNow(r, id, m, deployCommandId(m.deploymentId, id));
  }

  #assign(r: Rollout, deviceId: string, stage: number, deploymentId: string, now: number): void {
    const baseline = baselineOf(this.#fleet.get(deviceId)?.models ?? []);
    this.repo.setWant(r.id, deviceId, 'candidate', { stage, baseline, deploymentId, commandId: deployCommandId(deploymentId, deviceId) });
    this.#desired.setDesired(deviceId, desiredModels('candidate', r.model, r.spec.mode, baseline), `rollout:${r.id}`, now);
  }

  /**
   * Stops the rollout and returns every device that was given the version to the one it ran before:
   * a new manifest, higher release, pointing at the earlier bytes (already on the device).
   */
  rollback(r: Rollout, actor: Actor, reason: string, outcome: 'failed' | 'timed-out' | 'stopped'): void {
    const now = this.#deps.clock.now();
    const given = this.repo.devices(r.id).filter((d) => d.want === 'candidate');
    const groups = new Map<string, RolloutDevice[]>();
    for (const d of given) {
      const key = JSON.stringify([d.baseline?.name ?? r.model.name, d.baseline?.version ?? r.spec.previousVersion ?? null, d.baseline?.mode ?? null]);
      groups.set(key, [...(groups.get(key) ?? []), d]);
    }
    // one manifest per device, signed per group of devices returning to the same version
    const signed = [...groups.values()].flatMap((devices) => {
      const manifests = this.sync.signEach(r, 'rollback', devices.map((d) => d.deviceId), devices[0]!.baseline);
      return devices.map((d) => ({ devices: [d], manifest: manifests.get(d.deviceId) }));
    });
    writeTransaction(this.#deps.database.handle, () => {
      this.repo.endStage(r.id, r.stage, outcome, now);
      this.repo.setState(r.id, 'rolled-back', reason, now);
      for (const { devices, manifest } of signed) {
        for (const d of devices) {
          // without a version to return to (logged when signing) the device is still no longer given the new one
          this.repo.setWant(r.id, d.deviceId, 'baseline', manifest === undefined ? { deploymentId: null, commandId: null }
            : { deploymentId: manifest.deploymentId, commandId: deployCommandId(manifest.deploymentId, d.deviceId) });
          this.#desired.setDesired(d.deviceId, desiredModels('baseline', r.model, r.spec.mode, d.baseline), `rollout:${r.id}`, now);
        }
      }
      this.#deps.audit.record({
        actor, action: 'rollout.rollback', target: { type: 'rollout', id: r.id }, reason,
        detail: { stage: r.stage, devices: given.map((d) => d.deviceId), deployments: signed.map((s) => s.manifest?.deploymentId ?? null) },
      });
    })();
    this.#deps.log.warn({ rolloutId: r.id, stage: r.stage, devices: given.length, reason, by: actor.name }, 'rollout rolled back');
    for (const { devices, manifest } of signed) {
      if (manifest === undefined) continue;
      for (const d of devices) this.sync.sendNow({ ...r, state: 'rolled-back' }, d.deviceId, manifest, deployCommandId(manifest.deploymentId, d.deviceId));
    }
  }

  /** A device said it is online: take it into the rollouts it belongs to, and bring it in line. */
  deviceOnline(deviceId: string): void {
    const dev = this.#fleet.get(deviceId);
    if (dev === undefined) return;
    this.sync.online(deviceId);
    for (const r of this.#joinable()) {
      if (this.repo.device(r.id, deviceId) !== undefined || !matchesTarget(r.spec.target, dev)) continue;
      const now = this.#deps.clock.now();
      this.repo.addDevice({ rolloutId: r.id, deviceId, at: now });
      const last = r.spec.stages.length - 1;
      // joins straight away where the rollout's target is already "every device"
      if (r.state === 'completed' || (r.state === 'running' && r.stage === last && r.stageStartedAt !== null)) {
        const signed = this.sync.sign(r, 'join', deviceId);
        writeTransaction(this.#deps.database.handle, () => this.#assign(r, deviceId, last, signed!.deploymentId, now))();
        this.#deps.log.info({ rolloutId: r.id, deviceId, deploymentId: signed!.deploymentId }, 'device joined rollout');
      }
    }
    this.#safely(() => this.#sweep(deviceId));
  }

  /** Per model: the newest running or paused rollout, and the newest completed one. */
  #joinable(): Rollout[] {
    const out: Rollout[] = [];
    const seen = new Set<string>();
    for (const r of this.repo.inStates(['running', 'paused', 'completed']).reverse()) {
      const key = `${r.model.name}\u0000${r.state === 'completed' ? 'done' : 'live'}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(r);
    }
    return out;
  }

  /** Every device's governing rollout (its newest with a want) acts on it; one device or all. */
  #sweep(onlyDevice?: string): void {
    const byRollout = this.repo.governing(onlyDevice);
    // one device (it just reported) reads its own rows; a full sweep reads the fleet once, not a query per device
    const fleet = onlyDevice === undefined ? new Map(this.#fleet.all().map((d) => [d.deviceId, d])) : undefined;
    const fleetDevice = (id: string): FleetDevice | undefined => (fleet === undefined ? this.#fleet.get(id) : fleet.get(id));
    for (const [rolloutId, deviceIds] of byRollout) {
      const r = this.repo.get(rolloutId)!;
      // an aborted rollout leaves its devices as they are
      if (r.state === 'aborted') continue;
      const mine = onlyDevice === undefined ? this.#rowsOf(r.id, deviceIds) : [this.repo.device(r.id, onlyDevice)].filter((d) => d !== undefined);
      const failed = new Set(this.judge.judgeDevices(r, mine.filter((d) => d.want === 'candidate'), false).filter((j) => j.outcome === 'failed').map((j) => j.deviceId));
      for (const d of mine) this.sync.drive(r, d, fleetDevice(d.deviceId), failed.has(d.deviceId));
    }
  }

  #rowsOf(rolloutId: string, deviceIds: readonly string[]): RolloutDevice[] {
    const wanted = new Set(deviceIds);
    return this.repo.devices(rolloutId).filter((d) => wanted.has(d.deviceId));
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#deps.log.error({ err }, 'rollout engine step failed');
    }
  }

  /** The evaluation of the current stage, computed now (for the API). */
  evaluateNow(r: Rollout): Promise<Evaluation> {
    return this.judge.evaluate(r, this.repo, this.#deps.clock.now());
  }

  now(): string {
    return isoTime(this.#deps.clock.now());
  }
}

function failedGates(ev: Evaluation): string {
  return ev.gates.filter((g) => g.status === 'fail').map((g) => `${g.gate} ${g.value ?? '-'} vs ${g.threshold} (${g.detail})`).join('; ');
}

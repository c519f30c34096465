/**
 * The `deploy` command, end to end on the device. The checks before the download (checks.ts) run when
 * the command arrives, and the reply says `received` or `rejected:<reason>`; accepted deployments wait
 * in a queue persisted in `models/pending.json` (so a restart resumes them without the controller) and
 * run one at a time: checks again (state may have moved), disk space, download of what is not already
 * on the device, atomic install, activation in trial. A rollback or a promotion to bytes already here
 * downloads nothing. Every refusal leaves the running model and the trusted state as they were.
 *
 * Statuses reported per deployment: received, [downloading], installed, trial, then committed or
 * failed:<reason> + reverted (activation.ts), or rejected:<reason> / failed:download at any step here.
 */
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { PdmError, envelopeSchema, type Artifact, type Envelope, type Manifest } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { readJsonFile, writeJsonAtomic } from '../store/atomic.js';
import { hashFile, sizeOf, type ModelStore } from '../store/model-store.js';
import { pointerRelease } from '../store/pointer.js';
import type { Activation } from './activation.js';
import { DeployRejected, checkApplicable, verifyManifest, type DeviceFacts, type VerifiedManifest } from './checks.js';
import type { CrashHook } from './faults.js';
import { DownloadFailed, type ArtifactFetcher } from './fetcher.js';
import type { DeploymentLabel, DeploymentReporter } from './reporter.js';
import type { TrustStore } from './trust-store.js';

const MAX_QUEUE = 8;

const pendingSchema = z.strictObject({
  schemaVersion: z.literal(1),
  queue: z.array(z.strictObject({ commandId: z.string().min(1).max(64), envelope: envelopeSchema })).max(MAX_QUEUE),
});
type Pending = z.infer<typeof pendingSchema>['queue'][number];

export interface DeployerDeps {
  readonly config: { readonly minFreeBytes: number };
  /** The configured model's directory: its files count as already on the device (a rollback to it downloads nothing). */
  readonly factoryDir?: string;
  readonly device: DeviceFacts;
  readonly trust: TrustStore;
  readonly store: ModelStore;
  readonly fetcher: ArtifactFetcher;
  readonly activation: Activation;
  readonly reporter: DeploymentReporter;
  readonly clock: Clock;
  readonly log: Logger;
  readonly crash: CrashHook;
  /** Free bytes where models are stored (fs.statfs by default). */
  readonly freeBytes?: (dir: string) => Promise<number>;
}

export interface DeployReply extends Record<string, unknown> {
  readonly deploymentId: string;
  readonly status: 'received' | 'queued';
}

export class Deployer {
  private queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private stopped = true;
  /** Newest `created` of any manifest that verified (trusted time, kept in memory until an install persists it). */
  private verifiedTime = 0;

  constructor(private readonly deps: DeployerDeps) {}

  private get pendingFile(): string {
    return this.deps.store.pendingFile;
  }

  /** Resumes deployments accepted before a restart. */
  start(): void {
    this.stopped = false;
    this.queue = this.readPending();
    if (this.queue.length > 0) this.deps.log.info({ pending: this.queue.length }, 'resuming deployments');
    this.kick();
  }

  /**
   * The queue left by the last run. An unreadable file (only tampering or a broken disk) is set aside
   * and the queue starts empty: the controller's reconciliation sends what is still wanted.
   */
  private readPending(): Pending[] {
    try {
      return readJsonFile(this.pendingFile, pendingSchema)?.queue ?? [];
    } catch (err) {
      const aside = `${this.pendingFile}.unreadable-${this.deps.clock.now()}`;
      renameSync(this.pendingFile, aside);
      this.deps.log.error({ err, movedTo: aside }, 'pending deployments unreadable; set aside');
      return [];
    }
  }

  /** Stops after the current step; an interrupted deployment stays queued for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.fetcher.stop();
    await this.running;
  }

  /** Checks a deploy command's envelope now and queues it; throws DeployRejected (reported) on refusal. */
  async deploy(commandId: string, envelope: Envelope): Promise<DeployReply> {
    if (this.stopped) throw new PdmError('INTERNAL', 'deployments are not running on this device');
    const verified = this.verify(commandId, envelope);
    const { manifest } = verified;
    if (this.queue.some((p) => sameDeployment(p, manifest))) return { deploymentId: manifest.deploymentId, status: 'queued' };
    this.applicable(verified);
    if (this.queue.length >= MAX_QUEUE) throw new PdmError('INTERNAL', `${MAX_QUEUE} deployments already wait on this device`);
    this.deps.reporter.report(labelOf(manifest), { status: 'received', detail: `release ${manifest.release}, ${manifest.mode} mode` });
    this.queue.push({ commandId, envelope });
    this.persist();
    this.kick();
    return { deploymentId: manifest.deploymentId, status: 'received' };
  }

  /**
   * Checks 1-3. Before the signature verified nothing in the payload is trusted, not even as a label:
   * such a refusal is reported as deployment `unverified:<commandId>` of model `unverified` 0.
   */
  private verify(commandId: string, envelope: Envelope): VerifiedManifest {
    try {
      const verified = verifyManifest(Buffer.from(JSON.stringify(envelope), 'utf8'), this.deps.trust.trusted());
      this.verifiedTime = Math.max(this.verifiedTime, Date.parse(verified.manifest.created));
      return verified;
    } catch (err) {
      if (err instanceof DeployRejected) {
        const label = { deploymentId: `unverified:${commandId}`, model: { name: 'unverified', version: '0' } };
        this.deps.reporter.report(label, { status: `rejected:${err.reason}`, detail: err.detail });
      }
      throw err;
    }
  }

  /** Checks 4-6 (target, expiry, release above the high-water mark), reported under the manifest's own label. */
  private applicable({ manifest }: VerifiedManifest): void {
    const { trust, device, activation, clock } = this.deps;
    try {
      checkApplicable(manifest, {
        device,
        trustedNow: Math.max(clock.now(), trust.trustedTime(), this.verifiedTime),
        // the pointer counts too: a crash between the pointer write and trust.json loses nothing
        highWater: (name) => Math.max(trust.highWater(name), pointerRelease(activation.current(), name)),
      });
    } catch (err) {
      if (err instanceof DeployRejected) this.deps.reporter.report(labelOf(manifest), { status: `rejected:${err.reason}`, detail: err.detail });
      throw err;
    }
  }

  private kick(): void {
    if (this.running !== undefined || this.stopped || this.queue.length === 0) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.queue.length > 0) {
      const item = this.queue[0]!;
      const done = await this.run(item).catch((err: unknown) => {
        this.deps.log.error({ err, commandId: item.commandId }, 'deployment failed unexpectedly');
        return true;
      });
      if (!done) return;
      this.queue.shift();
      this.persist();
    }
  }

  /** One queued deployment; false when interrupted by a stop (it stays queued). */
  private async run(item: Pending): Promise<boolean> {
    let verified: VerifiedManifest;
    try {
      verified = this.verify(item.commandId, item.envelope);
      // resumed after a crash that came after the pointer switch: it is already running
      const m = verified.manifest;
      const p = this.deps.activation.current();
      if ([p.active, p.shadow].some((e) => e?.kind === 'store' && e.deploymentId === m.deploymentId && e.release === m.release)) return true;
      this.applicable(verified);
    } catch (err) {
      if (err instanceof DeployRejected) return true;
      throw err;
    }
    const { manifest, payload } = verified;
    const label = labelOf(manifest);
    const newer = this.queue.find((q) => q !== item && laterRelease(q, manifest));
    if (newer !== undefined) {
      this.deps.reporter.report(label, { status: 'rejected:rollback', detail: 'a higher release of this model is queued behind it' });
      return true;
    }
    try {
      const sources = await this.gather(manifest, label);
      if (sources === undefined) return false;
      const dir = await this.deps.store.install(manifest, payload, sources);
      this.deps.reporter.report(label, { status: 'installed', detail: dir });
      await this.deps.activation.activate(manifest, dir);
      this.dropPartials(item);
      return true;
    } catch (err) {
      if (err instanceof DeployRejected) {
        // nothing of a refused deployment stays, not even the files that did verify
        this.dropPartials(item);
        this.deps.reporter.report(label, { status: `rejected:${err.reason}`, detail: err.detail });
        return true;
      }
      if (err instanceof DownloadFailed) {
        if (this.stopped) return false;
        this.deps.reporter.report(label, { status: 'failed:download', detail: err.message });
        return true;
      }
      throw err;
    }
  }

  /**
   * Where each artifact's bytes come from: a file already on the device (any installed version) or a
   * download. Refuses with `disk` before downloading when the space is not there. Undefined when
   * stopped mid-download.
   */
  private async gather(manifest: Manifest, label: DeploymentLabel): Promise<Map<string, string> | undefined> {
    const { store, fetcher, log } = this.deps;
    const sources = new Map<string, string>();
    const missing: Artifact[] = [];
    for (const a of manifest.artifacts) {
      const local = store.findLocal(a) ?? (await this.inFactory(a));
      if (local !== undefined) sources.set(a.name, local);
      else missing.push(a);
    }
    if (missing.length === 0) return sources;
    const needed = missing.reduce((sum, a) => sum + a.length - Math.min(a.length, sizeOf(store.partialPath(a.sha256))), 0);
    const free = await (this.deps.freeBytes ?? freeBytes)(store.partialDir);
    if (free < needed + this.deps.config.minFreeBytes) {
      throw new DeployRejected('disk', `${needed} bytes to download, ${free} free, ${this.deps.config.minFreeBytes} kept in reserve`);
    }
    const total = missing.reduce((sum, a) => sum + a.length, 0);
    this.deps.reporter.report(label, { status: 'downloading', detail: `${missing.length} artifacts, ${total} bytes` });
    for (const a of missing) {
      sources.set(a.name, await fetcher.fetch(a));
      log.info({ artifact: a.name, bytes: a.length }, 'artifact downloaded');
    }
    this.deps.crash('after-download');
    return sources;
  }

  /** A file of the configured model directory with exactly these bytes (copied, never linked, at install). */
  private async inFactory(artifact: Artifact): Promise<string | undefined> {
    const dir = this.deps.factoryDir;
    if (dir === undefined) return undefined;
    for (const name of readdirSync(dir)) {
      const file = join(dir, name);
      if (sizeOf(file) !== artifact.length) continue;
      const actual = await hashFile(file).catch(() => undefined);
      if (actual?.sha256 === artifact.sha256) return file;
    }
    return undefined;
  }

  /** Partial downloads are kept only for deployments still queued behind `item`. */
  private dropPartials(item: Pending): void {
    this.deps.store.dropPartials(new Set(this.queue.filter((q) => q !== item).flatMap((q) => artifactsOf(q).map((a) => a.sha256))));
  }

  private persist(): void {
    writeJsonAtomic(this.pendingFile, { schemaVersion: 1, queue: this.queue });
  }
}

function labelOf(manifest: Manifest): DeploymentLabel {
  return { deploymentId: manifest.deploymentId, model: manifest.model };
}

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** The manifest inside a queued envelope; it verified when it was queued and is verified again before use. */
function peek(p: Pending): Manifest | undefined {
  try {
    return JSON.parse(Buffer.from(p.envelope.payload, 'base64').toString('utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

function sameDeployment(p: Pending, m: Manifest): boolean {
  const q = peek(p);
  return q?.model?.name === m.model.name && q.release === m.release;
}

function laterRelease(p: Pending, m: Manifest): boolean {
  const q = peek(p);
  return q?.model?.name === m.model.name && q.release > m.release;
}

function artifactsOf(p: Pending): Artifact[] {
  return peek(p)?.artifacts ?? [];
}

/**
 * The agent's side of a deployment, for simulated devices (bench/rollout.ts): the `deploy` command's
 * envelope is opened with the trusted keys (protocol openEnvelope: payload type, signature threshold),
 * the manifest parsed and checked (target, expiry, release above what runs); the reply says
 * `received`, and deployment records follow as the agent sends them (received, downloading,
 * installed, trial, committed), then a status with the new model active. Artifacts are fetched over
 * MQTT like agent/src/updates/fetcher.ts: `up/fetch` for 64 KiB ranges, any `down/chunk` answer with the
 * sha256 and offset still needed taken (whichever request it answers: a late answer to a timed-out
 * request too), a chunk not answered in time asked again, a lost link waited for and the download
 * resumed at the offset reached, the sha256 and length checked at the end. Differences from the agent,
 * on purpose: bytes are hashed as they arrive instead of written and fsynced to a partial file, and the
 * trial (which scores rows with onnxruntime) passes at once.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  MANIFEST_PAYLOAD_TYPE, decodePayload, encodePayload, manifestSchema, openEnvelope, type Artifact, type Chunk, type Command,
  type DeploymentStatusValue, type Manifest, type TrustedKeys,
} from '@pdm/protocol';
import type { SimDevice } from './sim-device.js';

export interface DeployerConfig {
  readonly chunkBytes: number;
  readonly chunkTimeoutMs: number;
  /** Drop the connection once, after this many chunks of a download (reconnecting devices); 0: never. */
  readonly dropAfterChunks: number;
}

export interface DeployCounters {
  deploys: number;
  rejected: number;
  chunks: number;
  chunkRetries: number;
  active: number;
  hashFailures: number;
}

interface Progress {
  offset: number;
  readonly hash: Hash;
}

export class SimDeployer {
  private current: string | undefined;
  private highWater = 0;
  private dropsLeft: number;
  private waiting: { sha256: string; offset: number; requestId: string; resolve: (c: Chunk | undefined) => void } | undefined;
  private counter = 0;
  activeAt: number | undefined;

  constructor(
    private readonly device: SimDevice,
    private readonly trusted: TrustedKeys,
    private readonly config: DeployerConfig,
    private readonly counters: DeployCounters,
  ) {
    this.dropsLeft = config.dropAfterChunks > 0 ? 1 : 0;
    device.chunkListener = (payload) => this.onChunk(payload);
  }

  /** The `deploy` command: checks, reply, then the download in the background. */
  handle(command: Extract<Command, { type: 'deploy' }>): void {
    const time = new Date().toISOString();
    const deviceId = this.device.config.deviceId;
    let manifest: Manifest;
    try {
      const payload = openEnvelope(Buffer.from(JSON.stringify(command.envelope), 'utf8'), MANIFEST_PAYLOAD_TYPE, this.trusted);
      manifest = manifestSchema.parse(JSON.parse(payload.toString('utf8')));
      const targeted = manifest.target.deviceIds === undefined || manifest.target.deviceIds.includes(deviceId);
      if (!targeted || Date.parse(manifest.expires) <= Date.now() || manifest.release < this.highWater) throw new Error('not applicable');
    } catch (err) {
      this.counters.rejected++;
      this.device.publishReply({ deviceId, commandId: command.id, time, status: 'error', error: { code: 'MANIFEST_REJECTED', message: String((err as Error).message).slice(0, 200) } });
      return;
    }
    // a resent command (same deployment) is answered again without acting twice
    this.device.publishReply({ deviceId, commandId: command.id, time, status: 'ok', data: { deploymentId: manifest.deploymentId, status: 'received' } });
    if (this.current === manifest.deploymentId || manifest.release === this.highWater) return;
    this.current = manifest.deploymentId;
    this.counters.deploys++;
    this.report(manifest, 'received');
    void this.install(manifest);
  }

  private async install(manifest: Manifest): Promise<void> {
    this.report(manifest, 'downloading');
    for (const artifact of manifest.artifacts) {
      if (!(await this.download(artifact))) {
        this.counters.hashFailures++;
        this.report(manifest, 'rejected:hash');
        return;
      }
    }
    this.highWater = manifest.release;
    this.report(manifest, 'installed');
    this.report(manifest, 'trial');
    this.report(manifest, 'committed');
    this.device.models = [{ ...manifest.model, role: 'active', release: manifest.release, mode: manifest.mode, deploymentId: manifest.deploymentId }];
    this.device.publishStatus();
    this.activeAt = Date.now();
    this.counters.active++;
  }

  /** Fetches one artifact chunk by chunk; true when its bytes hash to the manifest's sha256. */
  private async download(artifact: Artifact): Promise<boolean> {
    const progress: Progress = { offset: 0, hash: createHash('sha256') };
    while (progress.offset < artifact.length) {
      await this.linkUp();
      const length = Math.min(this.config.chunkBytes, artifact.length - progress.offset);
      const chunk = await this.request(artifact.sha256, progress.offset, length);
      if (chunk === undefined || chunk.status !== 'ok' || chunk.offset !== progress.offset) {
        this.counters.chunkRetries++;
        continue;
      }
      const data = Buffer.from(chunk.data, 'base64');
      if (data.byteLength === 0 || data.byteLength > length) return false;
      progress.hash.update(data);
      progress.offset += data.byteLength;
      this.counters.chunks++;
      if (this.dropsLeft > 0 && this.counters.chunks > 0 && progress.offset >= this.config.dropAfterChunks * this.config.chunkBytes) {
        this.dropsLeft--;
        this.device.drop();
      }
    }
    return progress.hash.digest('hex') === artifact.sha256 && progress.offset === artifact.length;
  }

  private async linkUp(): Promise<void> {
    while (!this.device.connected) await new Promise((r) => setTimeout(r, 200));
  }

  /** Resolves with the answer, or undefined after chunkTimeoutMs (asked again by the caller). */
  private request(sha256: string, offset: number, length: number): Promise<Chunk | undefined> {
    const requestId = `f-${this.device.config.deviceId.slice(-12)}-${++this.counter}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(undefined), this.config.chunkTimeoutMs);
      const settle = (c: Chunk | undefined): void => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(c);
      };
      this.waiting = { sha256, offset, requestId, resolve: settle };
      this.device.publish('fetch', encodePayload('fetch', { deviceId: this.device.config.deviceId, requestId, sha256, offset, length }), false);
    });
  }

  private onChunk(payload: Buffer): void {
    let chunk: Chunk;
    try {
      chunk = decodePayload('chunk', payload);
    } catch {
      return;
    }
    const w = this.waiting;
    if (w === undefined) return;
    // like the agent: bytes of the range still needed, whichever request they answer; an error only for its own request
    const matches = chunk.status === 'ok' ? chunk.sha256 === w.sha256 && chunk.offset === w.offset : chunk.requestId === w.requestId;
    if (matches) w.resolve(chunk);
  }

  private report(manifest: Manifest, status: DeploymentStatusValue): void {
    const { deviceId } = this.device.config;
    this.device.publishRecord('deployment', (seq) => encodePayload('deployment', {
      deviceId, seq, time: new Date().toISOString(), deploymentId: manifest.deploymentId, model: manifest.model, status,
    }));
  }
}

/**
 * Downloads an artifact over MQTT only (plant firewalls often allow nothing else): asks for byte ranges
 * on `up/fetch`, takes the answers from `down/chunk`, and appends them to `.partial/<sha256>`, fsynced
 * per chunk, so a disconnect or a restart resumes from the partial file's size. It never writes past
 * the manifest's `length` and verifies the sha256 at the end.
 *
 * While the link is down it waits for it without spending retries (a deployment survives any number of
 * outages); a chunk that does not come back in time while the link is up is retried with jittered
 * backoff, and `retries` attempts in a row without progress fail the download (the partial file stays
 * for the next attempt). Any answer with the sha256 and offset still needed is taken, whichever request
 * it answers: under load the controller's answer to a request that timed out arrives later, and
 * dropping it made every device ask again and the queue grow (bench:rollout). A controller that sends more than was asked, or says the artifact is longer
 * than the manifest, or whose bytes do not hash right, is refused (`rejected:hash`), partial deleted.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { PdmError, decodePayload, type Artifact, type Chunk, type FetchRequest } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { backoffDelay } from '../link/backoff.js';
import { hashFile, sizeOf } from '../store/model-store.js';
import { DeployRejected } from './checks.js';

export interface FetchLink {
  readonly connected: boolean;
  onUp(listener: () => void): () => void;
  onDown(listener: () => void): () => void;
  onMessage(kind: 'chunk', listener: (payload: Buffer) => void): () => void;
  publishPayload(kind: 'fetch', payload: FetchRequest): Promise<void>;
}

export interface FetcherConfig {
  readonly chunkBytes: number;
  readonly chunkTimeoutMs: number;
  readonly retries: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
}

export interface FetcherDeps {
  readonly deviceId: string;
  readonly link: FetchLink;
  readonly config: FetcherConfig;
  readonly partialPath: (sha256: string) => string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly random?: () => number;
}

/** The transfer failed for good (retries spent, the controller lacks the artifact, or stopped). */
export class DownloadFailed extends PdmError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('LINK_FAILED', message, { context });
  }
}

/** A wait for the answer to one range of one artifact. */
interface Waiting {
  readonly sha256: string;
  readonly offset: number;
  /** The request sent for it: an error answer counts only when it answers this request. */
  readonly requestId: string | undefined;
  readonly resolve: (chunk: Chunk | undefined) => void;
  readonly reject: (err: Error) => void;
}

type Range = { sha256: string; offset: number; length: number };

/** Not an error of the transfer: the link went down (or the fetcher stopped) while a chunk was due. */
class Interrupted extends Error {}

export class ArtifactFetcher {
  private readonly waiting = new Set<Waiting>();
  private offs: (() => void)[] = [];
  private abort = new AbortController();
  private counter = 0;
  private readonly prefix = randomBytes(3).toString('hex');

  constructor(private readonly deps: FetcherDeps) {}

  start(): void {
    this.abort = new AbortController();
    this.offs = [
      this.deps.link.onMessage('chunk', (payload) => this.onChunk(payload)),
      this.deps.link.onDown(() => this.interruptAll('link down')),
    ];
  }

  stop(): void {
    for (const off of this.offs) off();
    this.offs = [];
    this.abort.abort();
    this.interruptAll('stopped');
  }

  /** Downloads (or resumes) one artifact; resolves with the verified file's path. */
  async fetch(artifact: Pick<Artifact, 'name' | 'sha256' | 'length'>, onProgress?: (bytes: number) => void): Promise<string> {
    const { config, log } = this.deps;
    const file = this.deps.partialPath(artifact.sha256);
    let offset = sizeOf(file);
    if (offset > artifact.length) {
      rmSync(file, { force: true });
      offset = 0;
    }
    if (offset > 0) log.info({ artifact: artifact.name, offset, length: artifact.length }, 'download resumed');
    let failures = 0;
    while (offset < artifact.length) {
      await this.linkUp();
      const want = Math.min(config.chunkBytes, artifact.length - offset);
      const range = { sha256: artifact.sha256, offset, length: want };
      let chunk: Chunk | undefined;
      try {
        chunk = await this.request(range);
        if (chunk === undefined) {
          // not in time: the backoff before asking again still takes the late answer
          const attempt = failures + 1;
          this.checkAttempts(artifact, attempt, 'chunk timed out');
          chunk = await this.answerFor(range, undefined, this.backoff(artifact, failures, 'chunk timed out'));
          failures = attempt;
          if (chunk === undefined) continue;
        }
      } catch (err) {
        if (this.abort.signal.aborted) throw new DownloadFailed('download stopped', { artifact: artifact.name });
        if (err instanceof Interrupted) continue; // link went down: wait for it, no retry spent
        if (err instanceof DownloadFailed) throw err;
        failures = await this.failedAttempt(artifact, failures, (err as Error).message);
        continue;
      }
      const data = this.accept(chunk, artifact, offset, want);
      if (data === undefined) {
        failures = await this.failedAttempt(artifact, failures, chunk.status === 'error' ? chunk.error.message : 'stale chunk');
        continue;
      }
      appendAt(file, offset, data);
      offset += data.byteLength;
      failures = 0;
      onProgress?.(offset);
    }
    const actual = await hashFile(file);
    if (actual.sha256 !== artifact.sha256 || actual.length !== artifact.length) {
      rmSync(file, { force: true });
      throw new DeployRejected('hash', `${artifact.name}: downloaded bytes do not match the manifest's sha256`, { artifact: artifact.name });
    }
    return file;
  }

  /** The data of a chunk that answers the request, or undefined for one to retry; throws on a hostile one. */
  private accept(chunk: Chunk, artifact: Pick<Artifact, 'name' | 'sha256' | 'length'>, offset: number, want: number): Buffer | undefined {
    if (chunk.status === 'error') {
      if (chunk.error.code === 'NOT_FOUND') throw new DownloadFailed(`controller does not hold ${artifact.name}`, { artifact: artifact.name });
      return undefined;
    }
    if (chunk.sha256 !== artifact.sha256 || chunk.offset !== offset) return undefined;
    const data = Buffer.from(chunk.data, 'base64');
    if (chunk.total > artifact.length || data.byteLength > want || offset + data.byteLength > artifact.length) {
      rmSync(this.deps.partialPath(artifact.sha256), { force: true });
      throw new DeployRejected('hash', `${artifact.name}: the controller sent more than the manifest's length of ${artifact.length} bytes`, {
        artifact: artifact.name, total: chunk.total,
      });
    }
    if (chunk.total < artifact.length) {
      rmSync(this.deps.partialPath(artifact.sha256), { force: true });
      throw new DeployRejected('hash', `${artifact.name}: the controller's artifact is shorter than the manifest's length`, { artifact: artifact.name, total: chunk.total });
    }
    return data.byteLength === 0 ? undefined : data;
  }

  private async failedAttempt(artifact: Pick<Artifact, 'name'>, failures: number, why: string): Promise<number> {
    const attempt = failures + 1;
    this.checkAttempts(artifact, attempt, why);
    await this.deps.clock.sleep(this.backoff(artifact, failures, why), this.abort.signal);
    return attempt;
  }

  /** Throws when this attempt is one more than the retries allowed. */
  private checkAttempts(artifact: Pick<Artifact, 'name'>, attempt: number, why: string): void {
    if (attempt > this.deps.config.retries) throw new DownloadFailed(`${artifact.name}: no progress after ${attempt} attempts (${why})`, { artifact: artifact.name });
  }

  /** The jittered delay before the next attempt after `failures` failed ones. */
  private backoff(artifact: Pick<Artifact, 'name'>, failures: number, why: string): number {
    const { config, log } = this.deps;
    const delayMs = backoffDelay({ initialMs: config.retryInitialMs, maxMs: config.retryMaxMs }, failures, this.deps.random ?? Math.random);
    log.warn({ artifact: artifact.name, attempt: failures + 1, delayMs, why }, 'chunk not received; retrying');
    return delayMs;
  }

  private linkUp(): Promise<void> {
    if (this.abort.signal.aborted) return Promise.reject(new DownloadFailed('download stopped'));
    if (this.deps.link.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        off();
        this.abort.signal.removeEventListener('abort', onAbort);
      };
      const off = this.deps.link.onUp(() => {
        done();
        resolve();
      });
      const onAbort = (): void => {
        done();
        reject(new DownloadFailed('download stopped'));
      };
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Asks for a range; resolves with an answer for it, or undefined after chunkTimeoutMs. */
  private request(range: Range): Promise<Chunk | undefined> {
    const requestId = `f-${this.prefix}-${++this.counter}`;
    const answer = this.answerFor(range, requestId, this.deps.config.chunkTimeoutMs);
    this.deps.link.publishPayload('fetch', { deviceId: this.deps.deviceId, requestId, ...range }).catch(() => {
      // not connected: wait for the link; connected but refused: an attempt that failed
      const waiting = [...this.waiting].find((w) => w.requestId === requestId);
      waiting?.reject(this.deps.link.connected ? new Error('fetch request not published') : new Interrupted('link down'));
    });
    return answer;
  }

  /**
   * Waits up to `ms` for an answer to the range: an ok chunk with its sha256 and offset, whichever
   * request it answers, or an error chunk answering `requestId`. Undefined when none came in time.
   */
  private answerFor(range: Range, requestId: string | undefined, ms: number): Promise<Chunk | undefined> {
    return new Promise<Chunk | undefined>((resolve, reject) => {
      const timer = setTimeout(() => settle(() => resolve(undefined)), ms);
      const settle = (fn: () => void): void => {
        clearTimeout(timer);
        this.waiting.delete(waiting);
        fn();
      };
      const waiting: Waiting = {
        sha256: range.sha256, offset: range.offset, requestId,
        resolve: (c) => settle(() => resolve(c)), reject: (e) => settle(() => reject(e)),
      };
      this.waiting.add(waiting);
    });
  }

  private onChunk(payload: Buffer): void {
    let chunk: Chunk;
    try {
      chunk = decodePayload('chunk', payload);
    } catch (err) {
      this.deps.log.warn({ code: (err as PdmError).code, reason: (err as Error).message.slice(0, 200) }, 'invalid chunk ignored');
      return;
    }
    // bytes for a range still needed are taken whichever request they answer (a timed-out one, one
    // from before a reconnect); an error answers only the request it names. Anything else is dropped.
    for (const w of this.waiting) {
      const matches = chunk.status === 'ok' ? chunk.sha256 === w.sha256 && chunk.offset === w.offset : chunk.requestId === w.requestId;
      if (matches) return w.resolve(chunk);
    }
  }

  private interruptAll(why: string): void {
    for (const w of [...this.waiting]) w.reject(new Interrupted(why));
  }
}

/** Writes `data` at `offset` of `file` and flushes it, so the partial file's size is the resume point. */
function appendAt(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, offset === 0 ? 'w' : 'r+');
  try {
    let done = 0;
    while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done, offset + done);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

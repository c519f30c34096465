/**
 * Serves artifact bytes over MQTT (plant firewalls often allow nothing else): answers each `up/fetch`
 * with one `down/chunk` to the asking device. The answer never reaches past the artifact's end, and an
 * unknown artifact or a range starting past the end is an error chunk, so a device can tell "try
 * again" from "give up". Requests carry their offset, so a download resumes wherever the device's
 * partial file ends, after any number of disconnects; nothing here keeps per-download state.
 *
 * Answers are built once per range and reused (chunk-cache.ts), and published at a paced rate with a
 * device's repeated requests for one range merged (chunk-pacer.ts): a rollout's devices all ask for the
 * same ranges at the same time.
 */
import { MAX_CHUNK_BYTES, PdmError, chunkSchema, downTopic, encodePayload, type Chunk, type FetchRequest, type PdmErrorCode } from '@pdm/protocol';
import type { BrokerLink } from '../broker/broker-link.js';
import type { UpstreamSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import { ChunkCache, payloadOf, type BuiltChunk, type ChunkCacheStats } from './chunk-cache.js';
import { ChunkPacer, type ChunkPacerOptions, type PacerStats } from './chunk-pacer.js';
import type { Registry } from './registry.js';

export interface ChunkStats {
  served: number;
  bytes: number;
  errors: Partial<Record<PdmErrorCode, number>>;
}

export interface ChunkServerOptions extends ChunkPacerOptions {
  /** Bytes of built answers kept for reuse. */
  readonly cacheBytes: number;
}

/**
 * 32 answers of 64 KiB in flight keep the broker busy without queueing answers in its buffers for
 * seconds; 30 s is three of the agent's chunk timeouts; 32 MiB holds the ranges being rolled out
 * (a 300 KB model is 0.4 MiB of answers).
 */
export const defaultChunkServerOptions: ChunkServerOptions = { maxInFlight: 32, maxWaitMs: 30_000, cacheBytes: 32 * 1024 * 1024 };

type Answer = { chunk: Chunk; built?: BuiltChunk };

export class ChunkServer {
  readonly #registry: Registry;
  readonly #upstream: UpstreamSource;
  readonly #link: BrokerLink;
  readonly #log: Logger;
  readonly #cache: ChunkCache;
  readonly #pacer: ChunkPacer;
  readonly stats: ChunkStats = { served: 0, bytes: 0, errors: {} };
  #off: (() => void) | undefined;

  constructor(registry: Registry, upstream: UpstreamSource, link: BrokerLink, log: Logger, options: ChunkServerOptions = defaultChunkServerOptions) {
    this.#registry = registry;
    this.#upstream = upstream;
    this.#link = link;
    this.#log = log;
    this.#cache = new ChunkCache(options.cacheBytes);
    this.#pacer = new ChunkPacer(options, (req) => this.#serve(req));
  }

  /** What the cache and the pacer did (tests, diagnostics). */
  get flow(): { cache: ChunkCacheStats; pacer: PacerStats; waiting: number; inFlight: number } {
    return { cache: this.#cache.stats, pacer: this.#pacer.stats, waiting: this.#pacer.waiting, inFlight: this.#pacer.inFlight };
  }

  async start(): Promise<void> {
    this.#pacer.start();
    this.#off = this.#upstream.on('fetch', (req) => this.#pacer.enqueue(req));
  }

  async stop(): Promise<void> {
    this.#off?.();
    this.#off = undefined;
    this.#pacer.stop();
    this.#cache.clear();
  }

  /** The answer to one request (exported for tests; `#serve` also publishes it). */
  answer(req: FetchRequest): Chunk {
    return this.#answer(req).chunk;
  }

  #answer(req: FetchRequest): Answer {
    const fail = (code: PdmErrorCode, message: string): Answer => ({ chunk: { requestId: req.requestId, status: 'error', sha256: req.sha256, error: { code, message } } });
    const ok = (built: BuiltChunk): Answer => ({
      chunk: { requestId: req.requestId, status: 'ok', sha256: built.sha256, offset: built.offset, total: built.total, data: built.data }, built,
    });
    // content-addressed bytes never change and are never deleted: a built range needs no lookup
    const cached = this.#cache.get(req.sha256, req.offset, req.length);
    if (cached !== undefined) return ok(cached);
    const total = this.#registry.repo.artifactLength(req.sha256);
    if (total === undefined) return fail('NOT_FOUND', 'the registry holds no artifact with this sha256');
    if (req.offset >= total) return fail('REQUEST_INVALID', `offset ${req.offset} is at or past the artifact's end (${total} bytes)`);
    const onDisk = this.#registry.artifacts.sizeOf(req.sha256);
    if (onDisk !== total) return fail('INTERNAL', 'artifact bytes are missing on the controller');
    const length = Math.min(req.length, MAX_CHUNK_BYTES, total - req.offset);
    const data = this.#registry.artifacts.read(req.sha256, req.offset, length);
    if (data.byteLength !== length) return fail('INTERNAL', 'artifact file is shorter than recorded');
    return ok(this.#cache.put(req.sha256, req.offset, req.length, total, data));
  }

  /** Answers one request; settles when the broker took the answer (never rejects). */
  async #serve(req: FetchRequest): Promise<void> {
    let answer: Answer;
    try {
      answer = this.#answer(req);
    } catch (err) {
      this.#log.error({ err, deviceId: req.deviceId, sha256: req.sha256 }, 'chunk not served');
      answer = { chunk: { requestId: req.requestId, status: 'error', sha256: req.sha256, error: { code: 'INTERNAL', message: 'chunk could not be read' } } };
    }
    const { chunk, built } = answer;
    if (chunk.status === 'ok') {
      this.stats.served += 1;
      this.stats.bytes += Buffer.byteLength(chunk.data, 'base64');
    } else {
      this.stats.errors[chunk.error.code] = (this.stats.errors[chunk.error.code] ?? 0) + 1;
      this.#log.warn({ deviceId: req.deviceId, sha256: req.sha256, offset: req.offset, code: chunk.error.code }, 'chunk request refused');
    }
    // an ok answer was checked against the schema when its range was built
    const payload = built === undefined ? encodePayload('chunk', chunkSchema.parse(chunk)) : payloadOf(req.requestId, built);
    try {
      await this.#link.publish(downTopic(req.deviceId, 'chunk'), payload, { qos: 1, retain: false });
    } catch (err) {
      // the device asks again after its chunk timeout; nothing is lost by dropping this answer
      this.#log.warn({ err: err instanceof PdmError ? err.toJSON() : String(err), deviceId: req.deviceId }, 'chunk not published');
    }
  }
}

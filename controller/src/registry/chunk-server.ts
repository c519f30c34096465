/**
 * Serves artifact bytes over MQTT (plant firewalls often allow nothing else): answers each `up/fetch`
 * with one `down/chunk` to the asking device. The answer never reaches past the artifact's end, and an
 * unknown artifact or a range starting past the end is an error chunk, so a device can tell "try
 * again" from "give up". Requests carry their offset, so a download resumes wherever the device's
 * partial file ends, after any number of disconnects; nothing here keeps per-download state.
 */
import { MAX_CHUNK_BYTES, PdmError, chunkSchema, downTopic, encodePayload, type Chunk, type FetchRequest, type PdmErrorCode } from '@pdm/protocol';
import type { BrokerLink } from '../broker/broker-link.js';
import type { UpstreamSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import type { Registry } from './registry.js';

export interface ChunkStats {
  served: number;
  bytes: number;
  errors: Partial<Record<PdmErrorCode, number>>;
}

export class ChunkServer {
  readonly #registry: Registry;
  readonly #upstream: UpstreamSource;
  readonly #link: BrokerLink;
  readonly #log: Logger;
  readonly stats: ChunkStats = { served: 0, bytes: 0, errors: {} };
  #off: (() => void) | undefined;

  constructor(registry: Registry, upstream: UpstreamSource, link: BrokerLink, log: Logger) {
    this.#registry = registry;
    this.#upstream = upstream;
    this.#link = link;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#off = this.#upstream.on('fetch', (req) => this.#serve(req));
  }

  async stop(): Promise<void> {
    this.#off?.();
    this.#off = undefined;
  }

  /** The answer to one request (exported for tests; `#serve` also publishes it). */
  answer(req: FetchRequest): Chunk {
    const fail = (code: PdmErrorCode, message: string): Chunk => ({ requestId: req.requestId, status: 'error', sha256: req.sha256, error: { code, message } });
    const total = this.#registry.repo.artifactLength(req.sha256);
    if (total === undefined) return fail('NOT_FOUND', 'the registry holds no artifact with this sha256');
    if (req.offset >= total) return fail('REQUEST_INVALID', `offset ${req.offset} is at or past the artifact's end (${total} bytes)`);
    const onDisk = this.#registry.artifacts.sizeOf(req.sha256);
    if (onDisk !== total) return fail('INTERNAL', 'artifact bytes are missing on the controller');
    const length = Math.min(req.length, MAX_CHUNK_BYTES, total - req.offset);
    const data = this.#registry.artifacts.read(req.sha256, req.offset, length);
    if (data.byteLength !== length) return fail('INTERNAL', 'artifact file is shorter than recorded');
    return { requestId: req.requestId, status: 'ok', sha256: req.sha256, offset: req.offset, total, data: data.toString('base64') };
  }

  #serve(req: FetchRequest): void {
    let chunk: Chunk;
    try {
      chunk = this.answer(req);
    } catch (err) {
      this.#log.error({ err, deviceId: req.deviceId, sha256: req.sha256 }, 'chunk not served');
      chunk = { requestId: req.requestId, status: 'error', sha256: req.sha256, error: { code: 'INTERNAL', message: 'chunk could not be read' } };
    }
    if (chunk.status === 'ok') {
      this.stats.served += 1;
      this.stats.bytes += Buffer.byteLength(chunk.data, 'base64');
    } else {
      this.stats.errors[chunk.error.code] = (this.stats.errors[chunk.error.code] ?? 0) + 1;
      this.#log.warn({ deviceId: req.deviceId, sha256: req.sha256, offset: req.offset, code: chunk.error.code }, 'chunk request refused');
    }
    const payload = encodePayload('chunk', chunkSchema.parse(chunk));
    this.#link.publish(downTopic(req.deviceId, 'chunk'), payload, { qos: 1, retain: false }).catch((err: unknown) => {
      // the device asks again after its chunk timeout; nothing is lost by dropping this answer
      this.#log.warn({ err: err instanceof PdmError ? err.toJSON() : String(err), deviceId: req.deviceId }, 'chunk not published');
    });
  }
}

/**
 * Chunk answers built once per (artifact, offset, length) and reused for every device that asks for
 * the same range: in a rollout every device asks for the same few ranges of the same artifact, and
 * reading, base64-encoding and checking the ~87 KB answer again for each one was the chunk path's cost
 * (bench:rollout). Artifacts are content-addressed and never change, so a built answer stays right;
 * the cache is bounded by the bytes it holds and forgets the least recently used range first.
 *
 * What is kept is the answer's JSON without its first member (the request id, which differs per
 * request), so a payload is one concatenation: `{"requestId":"<id>"` + the rest.
 */
import { chunkSchema } from '@pdm/protocol';

export interface BuiltChunk {
  readonly sha256: string;
  readonly offset: number;
  /** The artifact's whole length. */
  readonly total: number;
  /** The range's bytes, base64. */
  readonly data: string;
  /** `,"status":"ok",...}`: the answer's JSON after its request id. */
  readonly rest: Buffer;
}

export interface ChunkCacheStats {
  /** Ranges read from an artifact file and encoded. */
  built: number;
  /** Answers served from an already built range. */
  reused: number;
}

export class ChunkCache {
  readonly stats: ChunkCacheStats = { built: 0, reused: 0 };
  readonly #entries = new Map<string, BuiltChunk>();
  #bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The built range, or undefined when it is not cached. */
  get(sha256: string, offset: number, length: number): BuiltChunk | undefined {
    const key = keyOf(sha256, offset, length);
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    // most recently used last: Map order is the eviction order
    this.#entries.delete(key);
    this.#entries.set(key, hit);
    this.stats.reused += 1;
    return hit;
  }

  /** Builds the answer for a range from its bytes, checks it against the chunk schema once, and keeps it. */
  put(sha256: string, offset: number, length: number, total: number, bytes: Buffer): BuiltChunk {
    const data = bytes.toString('base64');
    // validated here, once per range: the request id added later comes from a request that passed the fetch schema
    chunkSchema.parse({ requestId: 'r', status: 'ok', sha256, offset, total, data });
    const rest = Buffer.from(`,${JSON.stringify({ status: 'ok', sha256, offset, total, data }).slice(1)}`, 'utf8');
    const built: BuiltChunk = { sha256, offset, total, data, rest };
    this.stats.built += 1;
    const key = keyOf(sha256, offset, length);
    this.#drop(key);
    if (rest.byteLength > this.maxBytes) return built;
    this.#entries.set(key, built);
    this.#bytes += rest.byteLength;
    for (const [oldest] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#drop(oldest);
    }
    return built;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.rest.byteLength;
  }
}

/** The answer's payload for one request: `{"requestId":<id>` followed by the built rest. */
export function payloadOf(requestId: string, built: BuiltChunk): Buffer {
  return Buffer.concat([Buffer.from(`{"requestId":${JSON.stringify(requestId)}`, 'utf8'), built.rest]);
}

const keyOf = (sha256: string, offset: number, length: number): string => `${sha256}:${offset}:${length}`;

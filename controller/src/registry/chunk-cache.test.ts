import { describe, expect, it } from 'vitest';
import { chunkSchema } from '@pdm/protocol';
import { ChunkCache, payloadOf } from './chunk-cache.js';

const sha = 'b'.repeat(64);

describe('ChunkCache', () => {
  it('keeps a built range and makes a valid chunk payload from it for any request id', () => {
    const cache = new ChunkCache(1024 * 1024);
    const bytes = Buffer.from('hello, chunk "quoted" \n');
    const built = cache.put(sha, 10, 64, 100, bytes);
    expect(cache.get(sha, 10, 64)).toBe(built);
    expect(cache.get(sha, 10, 32)).toBeUndefined();
    const chunk = chunkSchema.parse(JSON.parse(payloadOf('req-1', built).toString('utf8')));
    expect(chunk).toEqual({ requestId: 'req-1', status: 'ok', sha256: sha, offset: 10, total: 100, data: bytes.toString('base64') });
    expect(cache.stats).toEqual({ built: 1, reused: 1 });
  });

  it('forgets the least recently used ranges beyond its byte bound', () => {
    const one = 3000; // base64 4000 bytes, plus the JSON around it
    const cache = new ChunkCache(3 * 4200);
    for (const offset of [0, 1, 2]) cache.put(sha, offset, one, 10_000, Buffer.alloc(one, offset));
    expect(cache.get(sha, 0, one)).toBeDefined(); // 0 is now the most recent
    cache.put(sha, 3, one, 10_000, Buffer.alloc(one, 3));
    expect(cache.size).toBe(3);
    expect(cache.get(sha, 1, one)).toBeUndefined();
    expect([0, 2, 3].every((o) => cache.get(sha, o, one) !== undefined)).toBe(true);
  });

  it('refuses to build an answer the chunk schema refuses', () => {
    const cache = new ChunkCache(1024);
    expect(() => cache.put('not-a-sha', 0, 4, 4, Buffer.from('abcd'))).toThrow();
    expect(cache.size).toBe(0);
  });
});

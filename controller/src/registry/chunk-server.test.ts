import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CHUNK_BYTES, chunkSchema, downTopic, encodePayload, sha256, upTopic, type Chunk, type FetchRequest } from '@pdm/protocol';
import { connectDevice, onceWithin, type TestDevice } from '../testing/device-client.js';
import { MODEL, artifactFiles, startRolloutHarness, type RolloutHarness } from '../rollouts/testing/harness.js';

let h: RolloutHarness;
let device: TestDevice;
const model = artifactFiles('1.0.0').model;
const sha = sha256(model);

beforeAll(async () => {
  h = await startRolloutHarness();
  await h.publish('1.0.0');
  device = await connectDevice(h.tc.mqttUrl, 'gw-fetch', { withWill: false });
  await device.client.subscribeAsync(downTopic('gw-fetch', 'chunk'), { qos: 1 });
});
afterAll(async () => {
  await device.end();
  await h.stop();
});

let n = 0;
async function fetchChunk(over: Partial<FetchRequest>): Promise<Chunk> {
  const req: FetchRequest = { deviceId: 'gw-fetch', requestId: `r${++n}`, sha256: sha, offset: 0, length: 16 * 1024, ...over };
  const answer = onceWithin(device.client, 'message', 5000);
  await device.client.publishAsync(upTopic('gw-fetch', 'fetch'), encodePayload('fetch', req), { qos: 1 });
  const [topic, bytes] = (await answer) as [string, Buffer];
  expect(topic).toBe(downTopic('gw-fetch', 'chunk'));
  const chunk = chunkSchema.parse(JSON.parse(bytes.toString()));
  expect(chunk.requestId).toBe(req.requestId);
  return chunk;
}

describe('chunk server', () => {
  it('serves an artifact in ranges over MQTT, resumable from any offset, never past its end', async () => {
    const size = 16 * 1024;
    const parts: Buffer[] = [];
    for (let offset = 0; offset < model.length; offset += size) {
      const c = await fetchChunk({ offset, length: size });
      if (c.status !== 'ok') assert.fail(c.error.message);
      expect(c).toMatchObject({ offset, total: model.length });
      parts.push(Buffer.from(c.data, 'base64'));
    }
    const whole = Buffer.concat(parts);
    expect(whole.length).toBe(model.length);
    expect(sha256(whole)).toBe(sha);
    // the last range asked for more than is left: it gets only what is left
    const tail = await fetchChunk({ offset: model.length - 10, length: MAX_CHUNK_BYTES });
    expect(tail.status === 'ok' && Buffer.from(tail.data, 'base64').length).toBe(10);
    // the card is an artifact too
    const card = h.tc.app.fleet.registry.releasable(MODEL, '1.0.0').artifacts.find((a) => a.name === 'card.json')!;
    const c = await fetchChunk({ sha256: card.sha256, length: card.length });
    expect(c.status === 'ok' && sha256(Buffer.from(c.data, 'base64'))).toBe(card.sha256);
  });

  it('builds the answer for a range once and serves it again to another device, with that device\'s request id', async () => {
    const other = await connectDevice(h.tc.mqttUrl, 'gw-fetch-2', { withWill: false });
    try {
      await other.client.subscribeAsync(downTopic('gw-fetch-2', 'chunk'), { qos: 1 });
      const range = { sha256: sha, offset: 3 * 4096, length: 4096 };
      const builtBefore = h.tc.app.fleet.chunks.flow.cache.built;
      const first = await fetchChunk(range);
      const answer = onceWithin(other.client, 'message', 5000);
      await other.client.publishAsync(upTopic('gw-fetch-2', 'fetch'), encodePayload('fetch', { deviceId: 'gw-fetch-2', requestId: 'other-1', ...range }), { qos: 1 });
      const second = chunkSchema.parse(JSON.parse(((await answer) as [string, Buffer])[1].toString()));
      expect(second).toEqual({ ...first, requestId: 'other-1' });
      expect(second.status === 'ok' && Buffer.from(second.data, 'base64')).toEqual(model.subarray(range.offset, range.offset + range.length));
      expect(h.tc.app.fleet.chunks.flow.cache.built - builtBefore).toBe(1);
    } finally {
      await other.end();
    }
  });

  it('answers an unknown artifact or an offset past the end with an error chunk', async () => {
    expect(await fetchChunk({ sha256: 'f'.repeat(64) })).toMatchObject({ status: 'error', error: { code: 'NOT_FOUND' } });
    expect(await fetchChunk({ offset: model.length })).toMatchObject({ status: 'error', error: { code: 'REQUEST_INVALID', message: /at or past the artifact's end/ } });
    expect(h.tc.app.fleet.chunks.stats.errors).toMatchObject({ NOT_FOUND: 1, REQUEST_INVALID: 1 });
  });
});

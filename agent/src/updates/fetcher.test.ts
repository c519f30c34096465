/** The artifact fetcher against a real aedes broker and a chunk server speaking the protocol over MQTT. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MAX_CHUNK_BYTES } from '@pdm/protocol';
import { systemClock } from '../clock.js';
import { MqttLink } from '../link/mqtt-link.js';
import { TestBroker } from '../testing/broker.js';
import { silentLogger } from '../testing/logger.js';
import { waitFor } from '../testing/waiting.js';
import { DeployRejected } from './checks.js';
import { ArtifactFetcher, DownloadFailed, type FetcherConfig } from './fetcher.js';
import { ChunkServer, sha256Of } from './testing.js';

const root = mkdtempSync(join(tmpdir(), 'pdm-fetch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const model = readFileSync(new URL('../../../models/artifacts/azure-pdm-failure-24h/1.0.0/model.onnx', import.meta.url));
const artifact = { name: 'model.onnx', sha256: sha256Of(model), length: model.byteLength };
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
let n = 0;

async function setup(config: Partial<FetcherConfig> = {}) {
  const broker = new TestBroker();
  await broker.start();
  cleanup.push(() => broker.stop());
  const server = new ChunkServer();
  await server.start(broker.url);
  cleanup.push(() => server.stop());
  server.blobs.set(artifact.sha256, model);
  const link = new MqttLink({
    config: { deviceId: 'edge-f', brokerUrl: broker.url, keepaliveSeconds: 30, connectTimeoutMs: 2000, reconnectInitialMs: 20, reconnectMaxMs: 100 },
    will: () => ({ deviceId: 'edge-f', state: 'offline', time: new Date().toISOString(), agentVersion: '0.1.0', bootId: 'b', assetId: 'a', assetClass: 'c', site: 's', models: [], lastSeq: 0 }),
    clock: systemClock,
    log: silentLogger,
  });
  link.start();
  cleanup.push(() => link.stop());
  const dir = join(root, `p${n++}`);
  mkdirSync(dir);
  const fetcher = new ArtifactFetcher({
    deviceId: 'edge-f',
    link,
    config: { chunkBytes: 8 * 1024, chunkTimeoutMs: 300, retries: 2, retryInitialMs: 10, retryMaxMs: 20, ...config },
    partialPath: (sha) => join(dir, sha),
    clock: systemClock,
    log: silentLogger,
  });
  fetcher.start();
  cleanup.push(() => fetcher.stop());
  await waitFor(() => link.connected, 'link up');
  return { broker, server, link, fetcher, partial: join(dir, artifact.sha256) };
}

describe('ArtifactFetcher over MQTT', () => {
  it('downloads in ranges of chunkBytes and verifies the sha256', async () => {
    const { server, fetcher, partial } = await setup();
    expect(await fetcher.fetch(artifact)).toBe(partial);
    expect(readFileSync(partial)).toEqual(model);
    expect(server.requests.map((r) => r.offset)).toEqual(Array.from({ length: Math.ceil(model.length / 8192) }, (_, i) => i * 8192));
    expect(server.requests.every((r) => r.length <= 8192 && r.offset + r.length <= model.length)).toBe(true);
  });

  it('downloads a 4 MiB artifact in the largest chunks the protocol allows, each answer near the chunk topic cap', async () => {
    const { server, fetcher } = await setup({ chunkBytes: MAX_CHUNK_BYTES, chunkTimeoutMs: 10_000 });
    const big = randomBytes(4 * 1024 * 1024 + 1234);
    const large = { name: 'large.onnx', sha256: sha256Of(big), length: big.byteLength };
    server.blobs.set(large.sha256, big);
    const file = await fetcher.fetch(large);
    expect(readFileSync(file).equals(big)).toBe(true);
    expect(server.requests.map((r) => r.offset)).toEqual(Array.from({ length: 17 }, (_, i) => i * MAX_CHUNK_BYTES));
  });

  it('resumes from the partial file after the broker drops every connection mid-download', async () => {
    const { broker, server, fetcher, partial } = await setup();
    let drops = 0;
    server.tamper = (req) => {
      // drop the connections at three points in the transfer; the request is not answered
      if ([16384, 24576, 32768].includes(req.offset) && drops < 3 && server.requests.filter((r) => r.offset === req.offset).length === 1) {
        drops++;
        broker.dropClients();
        return 'drop';
      }
      return undefined;
    };
    expect(await fetcher.fetch(artifact)).toBe(partial);
    expect(readFileSync(partial)).toEqual(model);
    expect(drops).toBe(3);
    // each range was asked for again after the reconnect, none from the start
    expect(server.requests.filter((r) => r.offset === 0)).toHaveLength(1);
  });

  it('resumes from a partial file left by an earlier process', async () => {
    const { server, fetcher, partial } = await setup();
    writeFileSync(partial, model.subarray(0, 20_000));
    await fetcher.fetch(artifact);
    expect(server.requests[0]!.offset).toBe(20_000);
    expect(readFileSync(partial)).toEqual(model);
  });

  it('refuses a controller that sends more than asked or claims a longer artifact, deleting the partial file', async () => {
    const { server, fetcher, partial } = await setup();
    server.tamper = (req, truth) =>
      req.offset === 8192
        ? { requestId: req.requestId, status: 'ok', sha256: req.sha256, offset: req.offset, total: truth!.length, data: truth!.subarray(8192, 8192 + 9000).toString('base64') }
        : undefined;
    const err = await fetcher.fetch(artifact).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployRejected);
    expect((err as DeployRejected).reason).toBe('hash');
    expect(existsSync(partial)).toBe(false);

    server.tamper = (req, truth) => ({ requestId: req.requestId, status: 'ok', sha256: req.sha256, offset: req.offset, total: truth!.length + 1, data: truth!.subarray(req.offset, req.offset + req.length).toString('base64') });
    expect(((await fetcher.fetch(artifact).catch((e: unknown) => e)) as DeployRejected).reason).toBe('hash');
  });

  it('deletes the partial file when the bytes do not hash to the manifest', async () => {
    const { server, fetcher, partial } = await setup();
    server.blobs.set(artifact.sha256, Buffer.from(model).fill(7, 100, 200));
    expect(((await fetcher.fetch(artifact).catch((e: unknown) => e)) as DeployRejected).reason).toBe('hash');
    expect(existsSync(partial)).toBe(false);
  });

  it('takes the late answer to a request that timed out, while its repeated request is unanswered', async () => {
    const { server, fetcher, partial } = await setup({ chunkTimeoutMs: 1500, retries: 5 });
    // the controller's queue holds every answer for this range past the device's timeout
    server.tamper = (req) => (req.offset === 16384 ? 'drop' : undefined);
    const done = fetcher.fetch(artifact);
    await waitFor(() => server.requests.filter((r) => r.offset === 16384).length === 2, 'the range asked for again');
    const [first] = server.requests.filter((r) => r.offset === 16384);
    await server.answerLate(first!);
    expect(await done).toBe(partial);
    expect(readFileSync(partial)).toEqual(model);
    // the late answer served the range: it was not asked for a third time
    expect(server.requests.filter((r) => r.offset === 16384)).toHaveLength(2);
  });

  it('takes a late answer that arrives during the backoff before asking again', async () => {
    const { server, fetcher, partial } = await setup({ chunkTimeoutMs: 300, retries: 5, retryInitialMs: 60_000, retryMaxMs: 60_000 });
    server.tamper = (req) => (req.offset === 8192 ? 'drop' : undefined);
    const done = fetcher.fetch(artifact);
    await waitFor(() => server.requests.some((r) => r.offset === 8192), 'range asked for');
    await new Promise((r) => setTimeout(r, 600)); // past the chunk timeout: the fetcher is in its minute-long backoff
    await server.answerLate(server.requests.find((r) => r.offset === 8192)!);
    expect(await done).toBe(partial);
    expect(server.requests.filter((r) => r.offset === 8192)).toHaveLength(1);
  });

  it('ignores an answer for a range it does not need and an error answering another request', async () => {
    const { server, fetcher, partial } = await setup({ chunkTimeoutMs: 1500, retries: 5 });
    let tampered = 0;
    server.tamper = (req, truth) => {
      if (req.offset !== 8192 || tampered++ > 0) return undefined;
      // first: bytes of another range (the one before), then an error naming some other request
      void server.answerLate({ ...req, offset: 0 });
      return { requestId: 'f-other-1', status: 'error', sha256: req.sha256, error: { code: 'NOT_FOUND', message: 'not for you' } };
    };
    expect(await fetcher.fetch(artifact)).toBe(partial);
    expect(readFileSync(partial)).toEqual(model);
    expect(server.requests.filter((r) => r.offset === 8192)).toHaveLength(2);
  });

  it('retries a chunk that does not come, then fails keeping the partial file; NOT_FOUND fails at once', async () => {
    const { server, fetcher, partial } = await setup({ retries: 2 });
    server.tamper = (req) => (req.offset >= 16384 ? 'drop' : undefined);
    const err = await fetcher.fetch(artifact).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadFailed);
    expect(server.requests.filter((r) => r.offset === 16384)).toHaveLength(3);
    expect(statSync(partial).size).toBe(16384);

    server.tamper = () => undefined;
    server.blobs.clear();
    const before = server.requests.length;
    expect(await fetcher.fetch(artifact).catch((e: unknown) => e)).toBeInstanceOf(DownloadFailed);
    expect(server.requests.length - before).toBe(1);
  });
});

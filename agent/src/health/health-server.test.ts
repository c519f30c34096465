import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Counters } from '../metrics/counters.js';
import type { OutboxStats } from '../outbox/outbox.js';
import { FakeClock } from '../testing/fake-clock.js';
import { silentLogger } from '../testing/logger.js';
import { HEALTH_EXIT, checkHealth, healthCommand } from './health-check.js';
import { COMMIT_FAILURE_WINDOW_MS, HealthServer, type HealthSources } from './health-server.js';

const stats = (over: Partial<OutboxStats> = {}): OutboxStats => ({
  lastSeq: 42, depth: 3, bytes: 900, delivered: 39, dropped: {}, quarantined: [], oldestPendingAt: undefined,
  statesNotStored: 0, stateStoredAt: undefined, stateNotStoredSince: undefined,
  byClass: { critical: { depth: 0, bytes: 0 }, metrics: { depth: 0, bytes: 0 }, predictions: { depth: 3, bytes: 900 }, samples: { depth: 0, bytes: 0 } },
  ...over,
});

const servers: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function serve(sources: () => HealthSources | undefined, clock = new FakeClock()): Promise<HealthServer> {
  const server = new HealthServer({ port: 0, sources, clock, log: silentLogger });
  await server.start();
  servers.push(server);
  return server;
}

async function get(server: HealthServer, path = '/health', method = 'GET'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('HealthServer', () => {
  it('answers 503 "starting" until the runtime exists, then 200 with counters while link and outbox are fine', async () => {
    const clock = new FakeClock();
    let sources: HealthSources | undefined;
    const server = await serve(() => sources, clock);
    expect(await get(server)).toEqual({
      status: 503,
      body: { status: 'unhealthy', problems: ['starting'], uptimeSeconds: 0, link: null, outbox: null, counters: null },
    });

    const counters = new Counters();
    counters.readings = 600;
    counters.predictions = 577;
    sources = { link: { connected: true }, outbox: { stats: () => stats({ oldestPendingAt: clock.now() - 4_000, statesNotStored: 2, stateNotStoredSince: clock.now() - 7_000 }) }, counters };
    clock.advance(10_000);
    const ok = await get(server);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      status: 'ok', problems: [], uptimeSeconds: 10, link: { connected: true },
      outbox: { depth: 3, bytes: 900, lastSeq: 42, delivered: 39, oldestPendingAgeSeconds: 4, statesNotStored: 2, stateNotStoredSeconds: 7 },
      counters: { readings: 600, predictions: 577, commitFailures: 0 },
    });
  });

  it('answers 503 while the link is down, and while outbox commits fail (for a minute after the last failure)', async () => {
    const clock = new FakeClock();
    const counters = new Counters();
    const link = { connected: false };
    const server = await serve(() => ({ link, outbox: { stats: () => stats() }, counters }), clock);
    expect((await get(server)).body['problems']).toEqual(['link down']);

    link.connected = true;
    counters.commitFailures = 2;
    expect(await get(server)).toMatchObject({ status: 503, body: { problems: ['outbox commits failing'] } });
    clock.advance(COMMIT_FAILURE_WINDOW_MS - 1);
    expect((await get(server)).status).toBe(503);
    clock.advance(1);
    expect((await get(server)).status).toBe(200);
    counters.commitFailures = 3;
    expect((await get(server)).status).toBe(503);
  });

  it('answers 503 when the outbox cannot be read', async () => {
    const server = await serve(() => ({
      link: { connected: true },
      outbox: { stats: () => { throw new Error('SQLITE_IOERR'); } },
      counters: new Counters(),
    }));
    expect(await get(server)).toMatchObject({ status: 503, body: { problems: ['outbox unreadable'], outbox: null } });
  });

  it('listens on loopback only, serves only GET /health', async () => {
    const server = await serve(() => undefined);
    expect(((server as unknown as { server: Server }).server.address() as AddressInfo).address).toBe('127.0.0.1');
    expect((await get(server, '/metrics')).status).toBe(404);
    expect((await get(server, '/health', 'POST')).status).toBe(405);
  });
});

describe('pdm-agent health', () => {
  it('exits 0 on 200, 1 on 503, and prints the report', async () => {
    const link = { connected: true };
    const server = await serve(() => ({ link, outbox: { stats: () => stats() }, counters: new Counters() }));
    const healthy = await checkHealth(server.port, 2_000);
    expect(healthy.exit).toBe(HEALTH_EXIT.healthy);
    expect(JSON.parse(healthy.text)).toMatchObject({ status: 'ok' });
    link.connected = false;
    expect(await checkHealth(server.port, 2_000)).toMatchObject({ exit: HEALTH_EXIT.unhealthy });
  });

  it('exits 3 when nothing listens, and when the agent accepts but never answers (a hung event loop)', async () => {
    const server = await serve(() => undefined);
    const port = server.port;
    await server.stop();
    expect(await checkHealth(port, 2_000)).toMatchObject({ exit: HEALTH_EXIT.noAnswer });

    const silent = createServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    servers.push({ stop: async () => { silent.closeAllConnections(); silent.close(); } });
    const started = Date.now();
    const hung = await checkHealth((silent.address() as AddressInfo).port, 300);
    expect(hung.exit).toBe(HEALTH_EXIT.noAnswer);
    expect(hung.text).toMatch(/no answer within 300 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('exits 2 without a healthPort or with an invalid configuration, naming the problem', async () => {
    const errors: string[] = [];
    const io = { env: {}, out: () => undefined, err: (t: string) => errors.push(t) };
    const base = ['--device-id', 'gw-1', '--asset-id', 'm-1', '--model', 'model', '--source.type', 'replay-csv', '--source.file', 'x.csv', '--source.time-column', 't'];
    expect(await healthCommand(base, io)).toBe(HEALTH_EXIT.config);
    expect(errors.pop()).toMatch(/no healthPort/);
    expect(await healthCommand(['--device-id', 'gw 1'], io)).toBe(HEALTH_EXIT.config);
    expect(errors.pop()).toMatch(/deviceId/);
    expect(await healthCommand([...base, '--health-port', '1', '--timeout-ms', 'soon'], io)).toBe(HEALTH_EXIT.config);
    expect(errors.pop()).toMatch(/--timeout-ms/);
  });
});

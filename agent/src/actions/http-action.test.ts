import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { silentLogger } from '../testing/logger.js';
import { waitFor } from '../testing/waiting.js';
import { HttpAction, type ActionConfig } from './http-action.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A local HTTP endpoint answering with the given statuses in turn (the last one repeats). */
async function endpoint(statuses: number[]): Promise<{ url: string; bodies: string[]; keys: string[] }> {
  const bodies: string[] = [];
  const keys: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      keys.push(String(req.headers['idempotency-key']));
      res.writeHead(statuses[Math.min(bodies.length - 1, statuses.length - 1)]!).end();
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/wo`, bodies, keys };
}

const action = (config: Partial<ActionConfig>) =>
  new HttpAction({ config: { headers: {}, confidenceThreshold: 0.8, timeoutMs: 2000, retries: 2, ...config }, deviceId: 'edge-1', clock: new FakeClock(), log: silentLogger });

describe('HttpAction', () => {
  it('triggers at or past the confidence threshold in the model direction; without a URL everything asks for review', () => {
    const a = action({ url: 'http://127.0.0.1:1/x' });
    expect([0.79, 0.8, 0.95].map((s) => a.decide(s, { alertWhen: 'above' }))).toEqual(['review', 'triggered', 'triggered']);
    expect([0.81, 0.8, 0.1].map((s) => a.decide(s, { alertWhen: 'below' }))).toEqual(['review', 'triggered', 'triggered']);
    expect(action({}).decide(1, { alertWhen: 'above' })).toBe('review');
  });

  it('POSTs the alert as committed, retries a 5xx, and stops at a 4xx', async () => {
    const ok = await endpoint([503, 201]);
    const a = action({ url: ok.url });
    a.trigger(7, Buffer.from('{"seq":7}'));
    await waitFor(() => a.stats().succeeded === 1, 'success after a retry');
    expect(ok.bodies).toEqual(['{"seq":7}', '{"seq":7}']);
    expect(ok.keys).toEqual(['edge-1:7', 'edge-1:7']);

    const refused = await endpoint([400]);
    const b = action({ url: refused.url });
    b.trigger(8, Buffer.from('{}'));
    await waitFor(() => b.stats().failed === 1, 'refused');
    expect(refused.bodies).toHaveLength(1);
    await b.stop();
  });

  it('gives up after its retries when nothing answers', async () => {
    const a = action({ url: 'http://127.0.0.1:9/unreachable', retries: 1 });
    a.trigger(1, Buffer.from('{}'));
    await a.stop();
    expect(a.stats()).toEqual({ triggered: 1, succeeded: 0, failed: 1 });
  });
});

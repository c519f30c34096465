/**
 * Deployment modes on a whole agent runtime: shadow (the candidate scores the same rows, its output
 * never acted on, comparisons summarised upstream), promotion and rollback to bytes already on the
 * device (no download), act mode (confident alerts trigger an HTTP action, the rest ask for review),
 * and key rotation through the trust-keys command.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { alertSchema, comparisonWindowSchema, predictionBatchSchema, type Alert, type KeySet } from '@pdm/protocol';
import { waitFor } from '../testing/waiting.js';
import { azureModels, TestDevice } from './device-harness.js';
import { artifactsOf, manifestFor, newSigner, signKeySet, signManifest, type Signer } from './testing.js';

const root = mkdtempSync(join(tmpdir(), 'pdm-modes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const signer = newSigner();
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
let n = 0;
const noisy = join(azureModels, '1.3.0-noisy');
const degraded = join(azureModels, '1.1.0-degraded');

async function device(config: Record<string, unknown> = {}, signers: Signer[] = [signer]): Promise<TestDevice> {
  const d = await TestDevice.start({
    dataDir: join(root, `d${n++}`),
    signers,
    speed: 180_000,
    config: { metricsWindowSeconds: 86_400, updates: { trial: { inferences: 10, latencyBudgetMs: 1000 } }, ...config },
  });
  cleanup.push(() => d.stop());
  return d;
}

async function deploy(d: TestDevice, dir: string, release: number, deploymentId: string, mode: 'shadow' | 'alert' | 'act', by: Signer = signer) {
  d.server.add(artifactsOf(dir).bytes);
  const reply = await d.deploy(signManifest(manifestFor(dir, { deviceId: d.deviceId, release, deploymentId, mode }), [by]));
  expect(reply).toMatchObject({ status: 'ok' });
}

const version = (r: Record<string, unknown>) => (r['model'] as { version: string }).version;

describe('deployment modes', () => {
  it('shadow: the candidate scores the same rows beside the active model, never alerts, and comparisons go upstream', async () => {
    const d = await device({ metricsWindowSeconds: 6 * 3600 });
    await deploy(d, noisy, 1, 'shadow-1', 'shadow');
    await d.waitStatus('shadow-1', 'committed');
    expect(d.rt.updates.models()).toEqual([
      { name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active' },
      { name: 'azure-pdm-failure-24h', version: '1.3.0-noisy', role: 'shadow', release: 1, mode: 'shadow', deploymentId: 'shadow-1' },
    ]);
    await waitFor(() => d.broker.payloads('/up/comparisons').reduce((sum, c) => sum + (c['n'] as number), 0) >= 120, '120 compared rows', 20_000);
    const comparisons = d.broker.payloads('/up/comparisons').map((c) => comparisonWindowSchema.parse(c));
    for (const c of comparisons) {
      expect(c).toMatchObject({ deploymentId: 'shadow-1', active: { version: '1.0.0' }, candidate: { version: '1.3.0-noisy' }, candidateErrors: 0 });
      expect(c.activeScores.counts.reduce((a, b) => a + b, 0)).toBe(c.n);
      expect(c.candidateScores.counts.reduce((a, b) => a + b, 0)).toBe(c.n);
      expect(Date.parse(c.windowEnd) - Date.parse(c.windowStart)).toBe(6 * 3_600_000);
    }
    // 1.3.0-noisy is the 1.0.0 trees with a threshold of 0.001: on the same rows the scores are equal,
    // the decisions are not, and the candidate would alert far more
    for (const c of comparisons) expect(c.meanAbsScoreDiff).toBe(0);
    expect(comparisons.some((c) => c.agreement < 1)).toBe(true);
    expect(comparisons.reduce((s, c) => s + c.candidateAlerts, 0)).toBeGreaterThan(comparisons.reduce((s, c) => s + c.activeAlerts, 0));
    const batches = d.broker.payloads('/up/predictions').map((p) => predictionBatchSchema.parse(p));
    const shadowRows = batches.filter((b) => b.role === 'shadow');
    expect(shadowRows.length).toBeGreaterThan(0);
    expect(shadowRows.every((b) => b.model.version === '1.3.0-noisy')).toBe(true);
    // the same row times are scored by both
    const activeTimes = new Set(batches.filter((b) => b.role === 'active').flatMap((b) => b.predictions.map((p) => p.t)));
    expect(shadowRows.flatMap((b) => b.predictions.map((p) => p.t)).every((t) => activeTimes.has(t))).toBe(true);
    // alerts come from the active model only
    expect(d.broker.payloads('/up/alerts').every((a) => version(a) === '1.0.0')).toBe(true);
  });

  it('promotes shadow to alert and rolls back to earlier bytes with higher releases and no download', async () => {
    const d = await device();
    await deploy(d, noisy, 1, 'shadow', 'shadow');
    await d.waitStatus('shadow', 'committed');
    const fetched = d.server.requests.length;
    expect(fetched).toBeGreaterThan(0);
    await deploy(d, noisy, 2, 'promote', 'alert');
    await d.waitStatus('promote', 'committed');
    expect(d.statuses('promote')).toEqual(['received', 'installed', 'trial', 'committed']);
    expect(d.rt.updates.models()).toEqual([{ name: 'azure-pdm-failure-24h', version: '1.3.0-noisy', role: 'active', release: 2, mode: 'alert', deploymentId: 'promote' }]);
    await deploy(d, degraded, 3, 'next', 'alert');
    await d.waitStatus('next', 'committed');
    const afterNext = d.server.requests.length;
    // rollback: a new, higher release pointing at the 1.3.0 bytes still on the device
    await deploy(d, noisy, 4, 'rollback', 'alert');
    await d.waitStatus('rollback', 'committed');
    expect(d.statuses('rollback')).toEqual(['received', 'installed', 'trial', 'committed']);
    expect(d.server.requests.length).toBe(afterNext);
    expect(d.running().active).toBe('azure-pdm-failure-24h@1.3.0-noisy');
  });

  it('act: a confident alert triggers the HTTP action with the alert as JSON; the others ask for review', async () => {
    const posts: { headers: IncomingMessage['headers']; body: Alert }[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posts.push({ headers: req.headers, body: JSON.parse(body) as Alert });
        res.writeHead(201).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/work-orders`;
    // 1.3.0-noisy alerts at 0.001: scores past 0.05 are confident enough to act on
    const d = await device({ actions: { url, confidenceThreshold: 0.05, headers: { authorization: 'Bearer t' } }, alerts: { cooldownSeconds: 0 } });
    await deploy(d, noisy, 1, 'act-1', 'act');
    await d.waitStatus('act-1', 'committed');
    await waitFor(() => posts.length >= 1 && d.broker.payloads('/up/alerts').some((a) => a['action'] === 'review'), 'a triggered and a review alert');
    const alerts = d.broker.payloads('/up/alerts').map((a) => alertSchema.parse(a)).filter((a) => a.deploymentId === 'act-1');
    for (const a of alerts) expect(a.action).toBe(a.score >= 0.05 ? 'triggered' : 'review');
    // every POST is a triggered alert, each once
    const triggered = new Set(alerts.filter((a) => a.action === 'triggered').map((a) => a.seq));
    expect(posts.every((p) => p.body.action === 'triggered')).toBe(true);
    expect(new Set(posts.map((p) => p.body.seq)).size).toBe(posts.length);
    await waitFor(() => [...triggered].every((seq) => posts.some((p) => p.body.seq === seq)), 'every triggered alert posted');
    const first = posts[0]!;
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.headers['authorization']).toBe('Bearer t');
    expect(first.headers['idempotency-key']).toBe(`${d.deviceId}:${first.body.seq}`);
    expect(alertSchema.parse(first.body)).toMatchObject({ action: 'triggered', deploymentId: 'act-1', model: { version: '1.3.0-noisy' } });
    // alerts of the configured model (no deployment, alert mode) carry no action
    expect(d.broker.payloads('/up/alerts').filter((a) => a['deploymentId'] === undefined).every((a) => a['action'] === undefined)).toBe(true);
  });

  it('rotates keys with trust-keys signed by the current key, then trusts only the new key', async () => {
    const next = newSigner();
    const d = await device();
    const keySet = (version: number, s: Signer): KeySet => ({ schemaVersion: 1, version, threshold: 1, keys: [{ keyid: s.keyid, publicKeyPem: s.publicKeyPem }], created: new Date().toISOString() });
    const refused = await d.command('trust-keys', signKeySet(keySet(2, next), [next]));
    expect(refused).toMatchObject({ status: 'error', error: { code: 'MANIFEST_REJECTED', message: expect.stringMatching(/^rejected:signature/) } });
    const accepted = await d.command('trust-keys', signKeySet(keySet(2, next), [signer]));
    expect(accepted).toMatchObject({ status: 'ok', data: { version: 2, keyids: [next.keyid], threshold: 1 } });
    expect(JSON.parse(d.file('trust.json')!.toString())).toMatchObject({ keySet: { version: 2 } });
    const old = await d.deploy(signManifest(manifestFor(noisy, { deviceId: d.deviceId, release: 1, deploymentId: 'old-key' }), [signer]));
    expect(old).toMatchObject({ status: 'error', error: { message: expect.stringMatching(/^rejected:signature/) } });
    await deploy(d, noisy, 1, 'new-key', 'alert', next);
    await d.waitStatus('new-key', 'committed');
  });
  it('shadow: a candidate with NaN outputs fails its trial and is removed; the active model never noticed', async () => {
    const d = await device();
    await deploy(d, join(azureModels, '1.2.0-nan'), 1, 'shadow-nan', 'shadow');
    await d.waitStatus('shadow-nan', 'reverted');
    expect(d.statuses('shadow-nan')).toEqual(['received', 'downloading', 'installed', 'trial', 'failed:non-finite', 'reverted']);
    expect(d.rt.updates.models()).toEqual([{ name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active' }]);
    await waitFor(() => d.running().shadow === undefined, 'shadow removed');
    expect(d.broker.payloads('/up/predictions').every((p) => p['role'] === 'active' && version(p) === '1.0.0')).toBe(true);
  });
  it('rolls back to the configured model\'s bytes without a download', async () => {
    const d = await device();
    await deploy(d, noisy, 1, 'forward', 'alert');
    await d.waitStatus('forward', 'committed');
    const fetched = d.server.requests.length;
    await deploy(d, join(azureModels, '1.0.0'), 2, 'back', 'alert');
    await d.waitStatus('back', 'committed');
    expect(d.statuses('back')).toEqual(['received', 'installed', 'trial', 'committed']);
    expect(d.server.requests.length).toBe(fetched);
    expect(d.rt.updates.models()).toEqual([{ name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active', release: 2, mode: 'alert', deploymentId: 'back' }]);
  });
});

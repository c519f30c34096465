/**
 * Trial, commit and automatic revert on a whole agent runtime replaying real telemetry: a good model
 * commits; one with NaN outputs and a slow one revert by themselves; a model in trial through too many
 * restarts reverts as a crash loop; a trial that loses the link reverts and reports once it is back.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pointerSchema } from '../store/pointer.js';
import { waitFor } from '../testing/waiting.js';
import { azureModels, TestDevice, type DeviceSetup } from './device-harness.js';
import { artifactsOf, manifestFor, newSigner, signManifest, writeSlowModel } from './testing.js';

const root = mkdtempSync(join(tmpdir(), 'pdm-trial-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const signer = newSigner();
const devices: TestDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await d.stop();
});
let n = 0;

/** Hourly rows at 20 ms each: the trial sees a row per run, as on a live device. */
async function device(config: Record<string, unknown> = {}, setup: Partial<DeviceSetup> = {}): Promise<TestDevice> {
  const d = await TestDevice.start({
    dataDir: join(root, `d${n++}`),
    signers: [signer],
    speed: 180_000,
    config: { updates: { trial: { inferences: 20, latencyBudgetMs: 1000 } }, ...config },
    ...setup,
  });
  devices.push(d);
  return d;
}

const pointer = (d: TestDevice) => pointerSchema.parse(JSON.parse(d.file('models/state.json')!.toString()));
const highWater = (d: TestDevice) => (JSON.parse(d.file('trust.json')!.toString()) as { highWater: Record<string, number> }).highWater;

async function deploy(d: TestDevice, dir: string, release: number, deploymentId: string, mode: 'shadow' | 'alert' | 'act' = 'alert') {
  d.server.add(artifactsOf(dir).bytes);
  const reply = await d.deploy(signManifest(manifestFor(dir, { deviceId: d.deviceId, release, deploymentId, mode }), [signer]));
  expect(reply).toMatchObject({ status: 'ok', data: { deploymentId, status: 'received' } });
}

describe('trial, commit and automatic revert', () => {
  it('commits a model whose health checks pass, keeping the configured one as fallback', async () => {
    const d = await device();
    await deploy(d, join(azureModels, '1.3.0-noisy'), 1, 'noisy');
    await d.waitStatus('noisy', 'committed');
    expect(d.statuses('noisy')).toEqual(['received', 'downloading', 'installed', 'trial', 'committed']);
    expect(d.running().active).toBe('azure-pdm-failure-24h@1.3.0-noisy');
    expect(d.rt.updates.models()).toEqual([{ name: 'azure-pdm-failure-24h', version: '1.3.0-noisy', role: 'active', release: 1, mode: 'alert', deploymentId: 'noisy' }]);
    const p = pointer(d);
    expect(p.trial).toBeUndefined();
    expect(p.previous).toEqual({ kind: 'config', model: { name: 'azure-pdm-failure-24h', version: '1.0.0' } });
    expect(highWater(d)).toEqual({ 'azure-pdm-failure-24h': 1 });
    // the status says so at once (the harness' heartbeat is an hour)
    await waitFor(() => (d.broker.payloads('/up/status').at(-1)?.['models'] as { version: string; trial?: boolean }[])?.[0]?.version === '1.3.0-noisy'
      && (d.broker.payloads('/up/status').at(-1)!['models'] as { trial?: boolean }[])[0]!.trial === undefined, 'status with the committed model');
    // predictions after the switch come from the new model
    await waitFor(() => d.broker.payloads('/up/predictions').some((b) => (b['model'] as { version: string }).version === '1.3.0-noisy'), 'predictions of 1.3.0');
  });

  it('reverts a model that outputs NaN by itself and reports failed:non-finite then reverted', async () => {
    const d = await device();
    await deploy(d, join(azureModels, '1.2.0-nan'), 1, 'nan');
    await d.waitStatus('nan', 'reverted');
    expect(d.statuses('nan')).toEqual(['received', 'downloading', 'installed', 'trial', 'failed:non-finite', 'reverted']);
    expect(d.running().active).toBe('azure-pdm-failure-24h@1.0.0');
    expect(pointer(d)).toEqual({ schemaVersion: 1, active: { kind: 'config', model: { name: 'azure-pdm-failure-24h', version: '1.0.0' } } });
    // the release stays used: going back to it needs a new, higher one
    expect(highWater(d)).toEqual({ 'azure-pdm-failure-24h': 1 });
    expect(d.broker.payloads('/up/predictions').some((b) => (b['model'] as { version: string }).version === '1.2.0-nan')).toBe(false);
  });

  it('reverts a model slower than the latency budget', async () => {
    // small batches keep each slow run well over the 8 ms budget yet short, so a loaded machine does not
    // pile rows into ever larger (ever slower) batches before the trial has its 12 runs
    const d = await device({ inference: { maxBatchRows: 8 }, updates: { trial: { inferences: 12, latencyBudgetMs: 8 } } });
    // 1600 layers of 512 x 512 per row (one shared 1 MB weight): ~420 M multiply-adds for a single row, so
    // even a run of one row is several times the 8 ms budget (400 layers measured 11-19 ms: too close). A
    // lighter model, 1.7 ms a row, committed when rows arrived one at a time, and the test then waited for a
    // revert in vain: that was the "stall" seen in CI.
    const slow = writeSlowModel(join(root, 'slow'), join(azureModels, '1.0.0'), '1.4.0-slow', 1600, 512);
    await deploy(d, slow, 1, 'slow');
    // a generous wait, not a timing claim: under a loaded 2-core CI run every step of the device (replay,
    // inference, the in-process broker and chunk server) slows down together; the trace below is the test
    await d.waitStatus('slow', 'reverted', 60_000);
    expect(d.statuses('slow')).toEqual(['received', 'downloading', 'installed', 'trial', 'failed:latency', 'reverted']);
    expect(d.deployments().find((x) => x.status === 'failed:latency')!.detail).toMatch(/p95 run latency [\d.]+ ms over the budget of 8 ms/);
    expect(d.running().active).toBe('azure-pdm-failure-24h@1.0.0');
  }, 90_000);

  it('reverts as a crash loop after more starts in trial than allowed', async () => {
    const d = await device({ updates: { trial: { inferences: 1_000_000, maxBoots: 2 } } });
    await deploy(d, join(azureModels, '1.3.0-noisy'), 1, 'loop');
    await d.waitStatus('loop', 'trial');
    for (const boots of [1, 2]) {
      await d.halt();
      await d.boot();
      expect(pointer(d).trial).toMatchObject({ deploymentId: 'loop', boots });
      expect(d.running().active).toBe('azure-pdm-failure-24h@1.3.0-noisy');
    }
    await d.halt();
    await d.boot();
    await d.waitStatus('loop', 'reverted');
    expect(d.statuses('loop')).toEqual(['received', 'downloading', 'installed', 'trial', 'failed:crash-loop', 'reverted']);
    expect(pointer(d).trial).toBeUndefined();
    expect(d.running().active).toBe('azure-pdm-failure-24h@1.0.0');
  });

  it('reverts a trial that lost the link, and the report arrives once the link is back', async () => {
    const d = await device({ updates: { trial: { inferences: 1_000_000, linkLossSeconds: 0.5 } } });
    await deploy(d, join(azureModels, '1.3.0-noisy'), 1, 'cut-off');
    await d.waitStatus('cut-off', 'trial');
    await d.broker.stop();
    // the pointer switches first, the loaded model right after
    await waitFor(() => d.running().active === 'azure-pdm-failure-24h@1.0.0', 'revert without a link');
    expect(pointer(d).trial).toBeUndefined();
    expect(d.statuses('cut-off')).not.toContain('reverted');
    await d.broker.start();
    await d.waitStatus('cut-off', 'reverted');
    expect(d.statuses('cut-off').slice(-2)).toEqual(['failed:link-lost', 'reverted']);
  });

  it('survives the link dropping five times during a deployment, which still commits', async () => {
    const d = await device({ updates: { download: { chunkBytes: 4096, chunkTimeoutMs: 500 } } });
    let drops = 0;
    d.server.tamper = (req) => {
      if (req.offset > 0 && req.offset % 8192 === 0 && drops < 5 && d.server.requests.filter((r) => r.offset === req.offset).length === 1) {
        drops++;
        d.broker.dropClients();
        return 'drop';
      }
      return undefined;
    };
    await deploy(d, join(azureModels, '1.3.0-noisy'), 1, 'flaky');
    await d.waitStatus('flaky', 'committed', 30_000);
    expect(drops).toBe(5);
    expect(readFileSync(join(d.config.dataDir, 'models/versions', pointer(d).active.kind === 'store' ? (pointer(d).active as { dir: string }).dir : '', 'model.onnx'))).toEqual(
      readFileSync(join(azureModels, '1.3.0-noisy/model.onnx')),
    );
  });
  it('reverts a version whose files do not belong together (the card names other model bytes): failed:load', async () => {
    const d = await device();
    const m = manifestFor(join(azureModels, '1.1.0-degraded'), { deviceId: d.deviceId, release: 1, deploymentId: 'mixed' });
    const card100 = artifactsOf(join(azureModels, '1.0.0')).artifacts.find((a) => a.name === 'card.json')!;
    m.artifacts = m.artifacts.map((a) => (a.name === 'card.json' ? card100 : a));
    d.server.add(artifactsOf(join(azureModels, '1.1.0-degraded')).bytes);
    d.server.add(artifactsOf(join(azureModels, '1.0.0')).bytes);
    await d.deploy(signManifest(m, [signer]));
    await d.waitStatus('mixed', 'reverted');
    expect(d.statuses('mixed')).toEqual(['received', 'downloading', 'installed', 'failed:load', 'reverted']);
    expect(d.running().active).toBe('azure-pdm-failure-24h@1.0.0');
  });

  it('refuses a deployment for want of disk space before downloading a byte', async () => {
    const d = await device({ updates: { minFreeBytes: 2 ** 50 } });
    const trustBefore = d.file('trust.json');
    await deploy(d, join(azureModels, '1.3.0-noisy'), 1, 'no-space');
    await d.waitStatus('no-space', 'rejected:disk');
    expect(d.statuses('no-space')).toEqual(['received', 'rejected:disk']);
    expect(d.server.requests).toEqual([]);
    expect(d.file('trust.json')).toEqual(trustBefore);
    expect(d.file('models/state.json')).toBeUndefined();
  });

  it('a newer deployment supersedes a trial in progress; the fallback stays the last committed model', async () => {
    const d = await device({ updates: { trial: { inferences: 1_000_000 } } });
    await deploy(d, join(azureModels, '1.3.0-noisy'), 1, 'first');
    await d.waitStatus('first', 'trial');
    await deploy(d, join(azureModels, '1.1.0-degraded'), 2, 'second');
    await d.waitStatus('second', 'trial');
    expect(d.statuses('first')).toEqual(['received', 'downloading', 'installed', 'trial', 'reverted']);
    expect(d.deployments().find((x) => x.deploymentId === 'first' && x.status === 'reverted')!.detail).toMatch(/superseded by deployment second/);
    const p = pointer(d);
    expect(p.trial).toMatchObject({ deploymentId: 'second', role: 'active' });
    expect(p.previous).toEqual({ kind: 'config', model: { name: 'azure-pdm-failure-24h', version: '1.0.0' } });
    await waitFor(() => d.running().active === 'azure-pdm-failure-24h@1.1.0-degraded', 'second active');
  });
  it('sets an unreadable pending-deployments file aside and goes on taking deployments', async () => {
    const dataDir = join(root, `d${n++}`);
    mkdirSync(join(dataDir, 'models'), { recursive: true });
    writeFileSync(join(dataDir, 'models/pending.json'), '{"schemaVersion":1,"queue":[{"broken"');
    const d = await device({}, { dataDir });
    expect(readdirSync(join(dataDir, 'models')).filter((f) => f.startsWith('pending.json.unreadable-'))).toHaveLength(1);
    await deploy(d, join(azureModels, '1.3.0-noisy'), 1, 'after-garbage');
    await d.waitStatus('after-garbage', 'committed');
  });
  it('judges expiry by the latest trusted time: a device clock behind the newest installed manifest cannot revive an expired one', async () => {
    const d = await device({ updates: { trial: { inferences: 1_000_000 } } });
    const day = 86_400_000;
    // signed "in the future" as seen from this device's clock, which is behind
    const ahead = { ...manifestFor(join(azureModels, '1.3.0-noisy'), { deviceId: d.deviceId, release: 1, deploymentId: 'ahead' }) };
    ahead.created = new Date(Date.now() + 10 * day).toISOString();
    ahead.expires = new Date(Date.now() + 20 * day).toISOString();
    d.server.add(artifactsOf(join(azureModels, '1.3.0-noisy')).bytes);
    await d.deploy(signManifest(ahead, [signer]));
    await d.waitStatus('ahead', 'trial');
    expect(JSON.parse(d.file('trust.json')!.toString()).trustedTime).toBe(ahead.created);
    // valid by the wall clock, expired by the trusted time
    const stale = manifestFor(join(azureModels, '1.1.0-degraded'), { deviceId: d.deviceId, release: 2, deploymentId: 'stale' });
    stale.expires = new Date(Date.now() + 5 * day).toISOString();
    const reply = await d.deploy(signManifest(stale, [signer]));
    expect(reply).toMatchObject({ status: 'error', error: { message: expect.stringMatching(/^rejected:expired/) } });
    await d.waitStatus('stale', 'rejected:expired');
  });
});

/**
 * One test per attack of RELIABILITY.md, against a whole agent runtime with a real broker: each ends
 * with the right `rejected:<reason>` record delivered, and the trusted state file, the model pointer and
 * the running model exactly as they were.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYSET_PAYLOAD_TYPE, MAX_ENVELOPE_BYTES, signEnvelope, type Manifest } from '@pdm/protocol';
import { azureModels, TestDevice } from './device-harness.js';
import { artifactsOf, manifestFor, newSigner, signManifest } from './testing.js';

const root = mkdtempSync(join(tmpdir(), 'pdm-attacks-'));
const trusted = newSigner();
const stranger = newSigner();
const v110 = join(azureModels, '1.1.0-degraded');
const v130 = join(azureModels, '1.3.0-noisy');
let device: TestDevice;

beforeAll(async () => {
  device = await TestDevice.start({ dataDir: join(root, 'device'), signers: [trusted], maxRows: 40 });
  device.server.add(artifactsOf(v110).bytes);
  device.server.add(artifactsOf(v130).bytes);
  // a first deployment sets a high-water mark of 5 for the model (and a pointer to compare against)
  const reply = await device.deploy(signManifest(manifestFor(v130, { deviceId: device.deviceId, release: 5, deploymentId: 'base' }), [trusted]));
  expect(reply['status']).toBe('ok');
  await device.waitStatus('base', 'trial');
});
afterAll(async () => {
  await device.stop();
  rmSync(root, { recursive: true, force: true });
});

const manifest = (over: Partial<Manifest> = {}): Manifest => ({ ...manifestFor(v110, { deviceId: device.deviceId, release: 6 }), ...over });

/** Sends `envelope`, expects the reply and the record to say `rejected:<reason>`, and nothing on the device to move. */
async function expectRejected(envelope: unknown, reason: string, label: string): Promise<void> {
  const before = { trust: device.file('trust.json'), pointer: device.file('models/state.json'), running: device.running(), versions: readdirSync(join(device.config.dataDir, 'models/versions')) };
  expect(before.trust).toBeDefined();
  const reply = await device.deploy(envelope as never);
  // refused before the signature verified: nothing unverified is read, not even the deployment id
  const deploymentId = label === 'unverified' ? `unverified:${String(reply['commandId'])}` : label;
  if (reason === 'hash') {
    // found while downloading, after the checks accepted the manifest
    expect(reply).toMatchObject({ status: 'ok', data: { deploymentId, status: 'received' } });
  } else {
    expect(reply).toMatchObject({ status: 'error', error: { code: 'MANIFEST_REJECTED', message: expect.stringMatching(new RegExp(`^rejected:${reason}: `)) } });
  }
  await device.waitStatus(deploymentId, `rejected:${reason}`);
  expect(device.statuses(deploymentId)).toEqual(deploymentId.startsWith('unverified:') || reason !== 'hash' ? [`rejected:${reason}`] : ['received', 'downloading', `rejected:${reason}`]);
  expect(device.file('trust.json')).toEqual(before.trust);
  expect(device.file('models/state.json')).toEqual(before.pointer);
  expect(device.running()).toEqual(before.running);
  expect(readdirSync(join(device.config.dataDir, 'models/versions'))).toEqual(before.versions);
  expect(readdirSync(join(device.config.dataDir, 'models/.partial'))).toEqual([]);
}

describe('attacks on signed deployments: refused, nothing moves', () => {
  it('bad signature: a payload changed after signing', async () => {
    const env = signManifest(manifest({ deploymentId: 'bad-sig' }), [trusted]);
    const forged = { ...env, payload: Buffer.from(JSON.stringify(manifest({ deploymentId: 'bad-sig', release: 99 }))).toString('base64') };
    await expectRejected(forged, 'signature', 'unverified');
  });

  it('other payload type: a trusted signature over a key set type does not verify as a manifest', async () => {
    const env = signEnvelope(KEYSET_PAYLOAD_TYPE, Buffer.from(JSON.stringify(manifest({ deploymentId: 'ptype' }))), [trusted]);
    await expectRejected(env, 'payload-type', 'unverified');
    // relabelled to the manifest type, the PAE no longer matches the signature
    await expectRejected({ ...env, payloadType: 'application/vnd.pdm.model-manifest+json;version=1' }, 'signature', 'unverified');
  });

  it('unknown key: signed by a key the device does not trust', async () => {
    const env = signManifest(manifest({ deploymentId: 'unknown-key' }), [stranger]);
    await expectRejected(env, 'signature', 'unverified');
  });

  it('too large: an envelope over the size cap, refused before parsing', async () => {
    const env = signManifest(manifest({ deploymentId: 'big' }), [trusted]);
    const big = { ...env, signatures: [...env.signatures, { keyid: 'f'.repeat(32), sig: 'A'.repeat(MAX_ENVELOPE_BYTES) }] };
    await expectRejected(big, 'too-large', 'unverified');
  });

  it('wrong target: another device, asset class or site', async () => {
    await expectRejected(signManifest(manifest({ deploymentId: 'other-device', target: { deviceIds: ['edge-other'] } }), [trusted]), 'target', 'other-device');
    await expectRejected(signManifest(manifest({ deploymentId: 'other-class', target: { assetClasses: ['turbofan'] } }), [trusted]), 'target', 'other-class');
    await expectRejected(signManifest(manifest({ deploymentId: 'other-site', target: { sites: ['plant-z'] } }), [trusted]), 'target', 'other-site');
  });

  it('expired manifest', async () => {
    const m = manifest({ deploymentId: 'expired', created: new Date(Date.now() - 7200_000).toISOString(), expires: new Date(Date.now() - 3600_000).toISOString() });
    await expectRejected(signManifest(m, [trusted]), 'expired', 'expired');
  });

  it('lower release than the highest installed, even signed by the trusted key', async () => {
    await expectRejected(signManifest(manifest({ deploymentId: 'lower', release: 4 }), [trusted]), 'rollback', 'lower');
  });

  it('equal release: already installed', async () => {
    await expectRejected(signManifest(manifest({ deploymentId: 'equal', release: 5 }), [trusted]), 'already-installed', 'equal');
  });

  it('hash mismatch: the controller serves other bytes under the manifest hash', async () => {
    const m = manifest({ deploymentId: 'hash' });
    const model = m.artifacts.find((a) => a.name === 'model.onnx')!;
    device.server.tamper = (req, truth) =>
      req.sha256 === model.sha256 && truth !== undefined
        ? { requestId: req.requestId, status: 'ok', sha256: req.sha256, offset: req.offset, total: truth.length, data: Buffer.alloc(Math.min(req.length, truth.length - req.offset), 1).toString('base64') }
        : undefined;
    try {
      await expectRejected(signManifest(m, [trusted]), 'hash', 'hash');
    } finally {
      device.server.tamper = () => undefined;
    }
  });

  it('over-length: the controller sends more bytes than the manifest length', async () => {
    const m = manifest({ deploymentId: 'over-length' });
    const model = m.artifacts.find((a) => a.name === 'model.onnx')!;
    device.server.tamper = (req, truth) =>
      req.sha256 === model.sha256 && truth !== undefined
        ? { requestId: req.requestId, status: 'ok', sha256: req.sha256, offset: req.offset, total: truth.length + 4096, data: Buffer.concat([truth, Buffer.alloc(4096)]).subarray(req.offset, req.offset + req.length + 4096).toString('base64') }
        : undefined;
    try {
      await expectRejected(signManifest(m, [trusted]), 'hash', 'over-length');
    } finally {
      device.server.tamper = () => undefined;
    }
  });

  it('mix-and-match: a file of another release served for one named in this manifest', async () => {
    const m = manifest({ deploymentId: 'mix' });
    const card = m.artifacts.find((a) => a.name === 'card.json')!;
    const otherCard = artifactsOf(v130).artifacts.find((a) => a.name === 'card.json')!;
    const otherBytes = artifactsOf(v130).bytes.get(otherCard.sha256)!;
    device.server.tamper = (req) =>
      req.sha256 === card.sha256
        ? { requestId: req.requestId, status: 'ok', sha256: req.sha256, offset: req.offset, total: card.length, data: otherBytes.subarray(req.offset, Math.min(req.offset + req.length, card.length)).toString('base64') }
        : undefined;
    try {
      await expectRejected(signManifest(m, [trusted]), 'hash', 'mix');
    } finally {
      device.server.tamper = () => undefined;
    }
  });

  it('after every attack, a genuine deployment still goes through', async () => {
    const reply = await device.deploy(signManifest(manifest({ deploymentId: 'genuine', release: 7 }), [trusted]));
    expect(reply['status']).toBe('ok');
    await device.waitStatus('genuine', 'trial');
    expect(device.statuses('genuine')).toEqual(['received', 'downloading', 'installed', 'trial']);
    expect(device.statuses('base')).toEqual(['received', 'downloading', 'installed', 'trial', 'reverted']);
    expect(device.running().active).toBe('azure-pdm-failure-24h@1.1.0-degraded');
    expect(existsSync(join(device.config.dataDir, 'trust.json'))).toBe(true);
  });
});


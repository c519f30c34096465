import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  KEYSET_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE, keySetSchema, manifestSchema, openEnvelope, trustedKeysFrom,
} from '@pdm/protocol';
import { tempDir } from '../testing/temp-dir.js';
import { MODEL, startRolloutHarness, type RolloutHarness } from '../rollouts/testing/harness.js';

const harnesses: RolloutHarness[] = [];
const dirs: { path: string; remove: () => void }[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop().catch(() => undefined);
  for (const d of dirs.splice(0)) d.remove();
});

async function start(dataDir?: string): Promise<RolloutHarness> {
  const dir = dataDir ?? (() => { const d = tempDir('pdm-keys-'); dirs.push(d); return d.path; })();
  const h = await startRolloutHarness({ dataDir: dir });
  harnesses.push(h);
  return h;
}
async function restart(h: RolloutHarness): Promise<RolloutHarness> {
  harnesses.splice(harnesses.indexOf(h), 1);
  await h.tc.app.stop();
  return start(h.tc.config.dataDir);
}
const sign = (h: RolloutHarness) => h.tc.app.fleet.signer.sign({ model: { name: MODEL, version: '1.0.0' }, mode: 'alert', target: { deviceIds: ['gw-1'] }, purpose: 'stage' });

describe('signing keys', () => {
  it('keeps the private key in a 0600 file only: never in the API, the logs, the audit log or the database', async () => {
    const h = await start();
    await h.publish('1.0.0');
    const keyFile = join(h.tc.config.dataDir, 'keys', 'signing.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const pem = readFileSync(keyFile, 'utf8');
    const secret = pem.split('\n').slice(1, -2).join('');
    expect(secret.length).toBeGreaterThan(20);
    const signed = sign(h);
    const exposed = [
      JSON.stringify((await h.api('GET', '/api/v1/trust')).body),
      JSON.stringify((await h.api('GET', '/api/v1/audit')).body),
      JSON.stringify(h.tc.lines),
      JSON.stringify(signed),
      readFileSync(join(h.tc.config.dataDir, 'keys', 'trust.json'), 'utf8'),
      readFileSync(join(h.tc.config.dataDir, 'controller.db')).toString('latin1') + readFileSync(join(h.tc.config.dataDir, 'controller.db-wal')).toString('latin1'),
    ];
    for (const text of exposed) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain('PRIVATE KEY');
    }
    // what it signs verifies with the published key set, and only as a manifest
    const keySet = keySetSchema.parse(JSON.parse(readFileSync(join(h.tc.config.dataDir, 'keys', 'trust.json'), 'utf8')));
    const bytes = Buffer.from(JSON.stringify(signed.envelope));
    const payload = openEnvelope(bytes, MANIFEST_PAYLOAD_TYPE, trustedKeysFrom(keySet));
    expect(manifestSchema.parse(JSON.parse(payload.toString()))).toEqual(signed.manifest);
    expect(() => openEnvelope(bytes, KEYSET_PAYLOAD_TYPE, trustedKeysFrom(keySet))).toThrow(/payload type/);
  });

  it('counts releases per model strictly upwards, across restarts, and past any release a device reported', async () => {
    let h = await start();
    await h.publish('1.0.0');
    const a = sign(h).manifest.release;
    const b = sign(h).manifest.release;
    expect([a, b]).toEqual([1, 2]);
    h = await restart(h);
    expect(sign(h).manifest.release).toBe(3);
    // a device that installed release 40 (from a controller whose database was restored from a backup)
    const d = await h.addDevice('gw-1');
    d.models = [{ name: MODEL, version: '1.0.0', role: 'active', release: 40, mode: 'alert', deploymentId: 'old' }];
    await d.reportStatus();
    await h.until('status stored', () => String(h.tc.app.database.handle.prepare('SELECT models FROM devices').pluck().get()).includes('"release":40'));
    expect(sign(h).manifest.release).toBe(41);
  });

  it('rotates: the new key set is signed by the old key, trust.json follows, new manifests verify only with the new set', async () => {
    let h = await start();
    await h.publish('1.0.0');
    const v1 = h.tc.app.fleet.keys.keySet();
    const rotated = await h.api('POST', '/api/v1/trust/rotate', { reason: 'scheduled' });
    expect(rotated.status).toBe(200);
    const v2 = keySetSchema.parse(rotated.body.keySet);
    expect(v2.version).toBe(2);
    expect(v2.keys[0]!.keyid).not.toBe(v1.keys[0]!.keyid);
    const [record] = h.tc.app.fleet.keys.chainAfter(1);
    const opened = openEnvelope(Buffer.from(JSON.stringify(record!.envelope)), KEYSET_PAYLOAD_TYPE, trustedKeysFrom(v1));
    expect(JSON.parse(opened.toString())).toEqual(v2);
    expect(JSON.parse(readFileSync(join(h.tc.config.dataDir, 'keys', 'trust.json'), 'utf8'))).toEqual(v2);
    h = await restart(h);
    const bytes = Buffer.from(JSON.stringify(sign(h).envelope));
    expect(() => openEnvelope(bytes, MANIFEST_PAYLOAD_TYPE, trustedKeysFrom(v2))).not.toThrow();
    expect(() => openEnvelope(bytes, MANIFEST_PAYLOAD_TYPE, trustedKeysFrom(v1))).toThrow(/0 of 1/);
  });

  it('settles a rotation cut short at the next start, and refuses a key file the trusted set does not name', async () => {
    let h = await start();
    const keys = join(h.tc.config.dataDir, 'keys');
    copyFileSync(join(keys, 'signing.key'), join(keys, 'v1.pem'));
    h.tc.app.fleet.keys.rotate({ name: 'test', role: 'admin' }, 'test');
    const v2 = h.tc.app.fleet.keys.keyid;
    await h.tc.app.stop();
    harnesses.splice(0);
    // crash after the database commit, before the rename: v1 still in place, v2 waiting as .next
    copyFileSync(join(keys, 'signing.key'), join(keys, 'signing.key.next'));
    copyFileSync(join(keys, 'v1.pem'), join(keys, 'signing.key'));
    h = await start(h.tc.config.dataDir);
    expect(h.tc.app.fleet.keys.keyid).toBe(v2);
    expect(existsSync(join(keys, 'signing.key.next'))).toBe(false);
    // a stray .next the database never named is discarded
    const stray = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(join(keys, 'signing.key.next'), stray, { mode: 0o600 });
    h = await restart(h);
    expect(h.tc.app.fleet.keys.keyid).toBe(v2);
    expect(existsSync(join(keys, 'signing.key.next'))).toBe(false);
    // a key file replaced by another key: refuse to start rather than sign with an untrusted key
    await h.tc.app.stop();
    harnesses.splice(0);
    writeFileSync(join(keys, 'signing.key'), stray, { mode: 0o600 });
    await expect(startRolloutHarness({ dataDir: h.tc.config.dataDir })).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: /is not in the trusted key set version 2/ });
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KeySet } from '@pdm/protocol';
import { silentLogger } from '../testing/logger.js';
import { DeployRejected } from './checks.js';
import { newSigner, signKeySet, signManifest, type Signer } from './testing.js';
import { TrustStore } from './trust-store.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-trust-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const keySet = (version: number, signers: readonly Signer[], threshold = 1): KeySet => ({
  schemaVersion: 1, version, threshold, keys: signers.map((s) => ({ keyid: s.keyid, publicKeyPem: s.publicKeyPem })), created: '2026-11-26T10:00:00.000Z',
});

function open(configured: KeySet | undefined, file = join(dir, `trust-${n++}.json`)): TrustStore {
  const t = new TrustStore({ file, configured, log: silentLogger });
  t.start();
  return t;
}

function rotateReason(t: TrustStore, envelope: unknown): string {
  try {
    t.rotate(Buffer.from(JSON.stringify(envelope)));
    return 'ok';
  } catch (err) {
    if (err instanceof DeployRejected) return err.reason;
    throw err;
  }
}

describe('TrustStore', () => {
  const a = newSigner();
  const b = newSigner();
  const c = newSigner();

  it('accepts a new key set signed by the current keys, persists it, and then trusts only the new keys', () => {
    const file = join(dir, 'rotate.json');
    const t = open(keySet(1, [a]), file);
    expect(rotateReason(t, signKeySet(keySet(2, [b, c], 2), [a]))).toBe('ok');
    expect(JSON.parse(readFileSync(file, 'utf8')).keySet.version).toBe(2);
    // a restart with the old configured set keeps the rotated one
    const again = open(keySet(1, [a]), file);
    expect(again.keySetVersion()).toBe(2);
    expect([...again.trusted()!.keys.keys()].sort()).toEqual([b.keyid, c.keyid].sort());
    expect(again.trusted()!.threshold).toBe(2);
    // the old key alone can no longer rotate: threshold 2 of the new keys
    expect(rotateReason(again, signKeySet(keySet(3, [a]), [a]))).toBe('signature');
    expect(rotateReason(again, signKeySet(keySet(3, [a]), [b]))).toBe('signature');
    expect(rotateReason(again, signKeySet(keySet(3, [a]), [b, c]))).toBe('ok');
  });

  it('refuses a key set signed by an unknown key, an older or equal version, and another payload type; the file does not move', () => {
    const file = join(dir, 'refuse.json');
    const t = open(keySet(3, [a]), file);
    const before = readFileSync(file);
    expect(rotateReason(t, signKeySet(keySet(4, [b]), [b]))).toBe('signature');
    expect(rotateReason(t, signKeySet(keySet(2, [b]), [a]))).toBe('rollback');
    expect(rotateReason(t, signKeySet(keySet(3, [b]), [a]))).toBe('already-installed');
    // a manifest signature never rotates keys, even with a trusted key
    expect(rotateReason(t, signManifest(keySet(4, [b]) as never, [a]))).toBe('payload-type');
    expect(readFileSync(file)).toEqual(before);
  });

  it('keeps high-water marks and the trusted time, only moving forward', () => {
    const file = join(dir, 'hw.json');
    const t = open(keySet(1, [a]), file);
    const m = { model: { name: 'm', version: '1' }, release: 5, created: '2026-11-26T10:00:00.000Z' } as never;
    t.recordInstall(m);
    t.recordInstall({ model: { name: 'm', version: '0' }, release: 3, created: '2026-01-01T00:00:00.000Z' } as never);
    const again = open(keySet(1, [a]), file);
    expect(again.highWater('m')).toBe(5);
    expect(again.highWater('other')).toBe(0);
    expect(again.trustedTime()).toBe(Date.parse('2026-11-26T10:00:00.000Z'));
  });

  it('refuses a configured key whose id does not match it', () => {
    const wrong = { ...keySet(1, [a]), keys: [{ keyid: b.keyid, publicKeyPem: a.publicKeyPem }] };
    expect(() => open(wrong)).toThrow(/does not match its key/);
  });
});

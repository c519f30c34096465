/**
 * Device passwords: generated here (32 random bytes, base64url), shown once, stored only as an
 * scrypt hash with a per-device salt. The hash string carries its own cost parameters
 * (`scrypt$N$r$p$salt$hash`), so raising the cost later leaves stored hashes verifiable.
 *
 * Cost: N = 2^12 (~4 MiB, a few ms). The secrets are 256 random bits, not chosen by people, so no
 * dictionary exists to slow down; the hash only keeps a stolen database from being a list of
 * passwords. A cheap hash also keeps a fleet reconnecting at once (broker restart) from queueing
 * seconds of key derivation in libuv's thread pool.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { PdmError } from '@pdm/protocol';

const PARAMS = { N: 4096, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

export function newDeviceSecret(): string {
  return randomBytes(32).toString('base64url');
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(Buffer.from(secret, 'utf8'), salt, PARAMS.N, PARAMS.r, PARAMS.p);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Constant-time comparison of the derived key; false for a malformed stored hash. */
export async function verifySecret(secret: Buffer | string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((v) => Number.isSafeInteger(v) && v > 0)) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  const given = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const actual = await derive(given, salt, N, r, p, expected.length);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function derive(secret: Buffer, salt: Buffer, N: number, r: number, p: number, length = KEY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => {
      if (err === null) resolve(key);
      else reject(new PdmError('INTERNAL', 'scrypt failed', { cause: err }));
    });
  });
}

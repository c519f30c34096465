/** The default of `apiReads` follows the bind host: open reads on loopback only (config.ts defaultApiReads). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { startTestController } from '../testing/harness.js';
import { ADMIN_TOKEN_FILE } from './tokens.js';

describe('apiReads default', () => {
  it('is "open" on a loopback host and "token" on any other, unless set', () => {
    const reads = (flags: Record<string, string>) => loadConfig({ flags }).apiReads;
    expect(reads({})).toBe('open');
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) expect(reads({ host }), host).toBe('open');
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'gateway.plant.example']) expect(reads({ host }), host).toBe('token');
    expect(reads({ host: '0.0.0.0', apiReads: 'open' })).toBe('open');
    expect(reads({ host: '127.0.0.1', apiReads: 'token' })).toBe('token');
  });

  it('a controller listening on every interface answers reads without a token with 401, with one with data', async () => {
    const tc = await startTestController({ flags: { host: '0.0.0.0' } });
    try {
      expect(tc.config.apiReads).toBe('token');
      const base = `http://127.0.0.1:${tc.app.ready().httpPort}`;
      const token = readFileSync(join(tc.config.dataDir, ADMIN_TOKEN_FILE), 'utf8').trim();
      const bare = await fetch(`${base}/api/v1/devices`);
      expect(bare.status).toBe(401);
      expect(bare.headers.get('www-authenticate')).toBe('Bearer realm="pdm"');
      expect(((await bare.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
      const signed = await fetch(`${base}/api/v1/devices`, { headers: { authorization: `Bearer ${token}` } });
      expect(signed.status).toBe(200);
      expect(await signed.json()).toMatchObject({ devices: [] });
      // the page itself and the health check need no token: the page asks for one
      expect((await fetch(`${base}/`)).status).toBe(200);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      await tc.stop();
    }
  });
});

import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isPdmError } from '@pdm/protocol';
import { captureLogs } from '../testing/log-capture.js';
import { tempDir } from '../testing/temp-dir.js';
import { ADMIN_TOKEN_FILE, ApiTokens } from './tokens.js';

const dirs: { remove: () => void }[] = [];
const dir = () => { const d = tempDir('pdm-auth-'); dirs.push(d); return d.path; };
afterEach(() => { for (const d of dirs.splice(0)) d.remove(); });

describe('ApiTokens', () => {
  it('generates an admin token once, mode 0600, logs its path and never its value', async () => {
    const dataDir = dir();
    const { log, lines } = captureLogs('debug');
    const first = new ApiTokens({ dataDir }, log);
    await first.start();
    const file = join(dataDir, ADMIN_TOKEN_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = (await import('node:fs')).readFileSync(file, 'utf8').trim();
    expect(first.identify(token)).toEqual({ name: 'admin', role: 'admin' });
    expect(first.identify(`${token}x`)).toBeUndefined();
    const again = new ApiTokens({ dataDir }, log);
    await again.start();
    expect(again.identify(token)).toEqual({ name: 'admin', role: 'admin' });
    expect(lines.filter((l) => l.msg === 'no tokensFile configured: generated an admin API token')).toEqual([expect.objectContaining({ file })]);
    expect(JSON.stringify(lines)).not.toContain(token);
  });

  it('refuses a tokens file with problems, naming them', async () => {
    const dataDir = dir();
    const file = join(dataDir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ tokens: [{ name: 'a', role: 'owner', token: 'short' }, { name: 'a', role: 'viewer', sha256: 'zz' }] }));
    const t = new ApiTokens({ dataDir, tokensFile: file }, captureLogs('silent').log);
    const err = await t.start().catch((e: unknown) => e);
    expect(isPdmError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/tokens\.0/);
    expect((err as Error).message).not.toContain('short');
  });
});

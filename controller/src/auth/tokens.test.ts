import { statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isPdmError } from '@pdm/protocol';
import { captureLogs } from '../testing/log-capture.js';
import { tempDir } from '../testing/temp-dir.js';
import { testDatabase } from '../testing/test-database.js';
import { AuditLog } from '../audit/audit-log.js';
import { ManualClock } from '../clock.js';
import { TokenStore } from './token-store.js';
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

  it('beside a tokens file: created tokens are found in the database, lastUsed is written once a minute, a shared name is warned about', async () => {
    const clock = new ManualClock('2026-03-01T00:00:00.000Z');
    const { log, lines } = captureLogs('debug');
    const database = await testDatabase({ log });
    const dataDir = dirname(database.file);
    const store = new TokenStore(database, new AuditLog(database, clock), clock);
    const root = { name: 'root', role: 'admin' } as const;
    const { token } = store.create({ name: 'alice', role: 'engineer' }, root);
    const file = join(dataDir, 'tokens.json');
    writeFileSync(file, JSON.stringify({ tokens: [{ name: 'alice', role: 'viewer', token: 'file-token-0123456789abcdefghij' }] }));
    const tokens = new ApiTokens({ dataDir, tokensFile: file }, log, store);
    await tokens.start();
    expect(lines.filter((l) => l.msg === 'a token in the tokens file has the name of a token created through the API')).toEqual([expect.objectContaining({ level: 40, name: 'alice' })]);
    expect(tokens.identify('file-token-0123456789abcdefghij')).toEqual({ name: 'alice', role: 'viewer' });
    expect(tokens.identify(token)).toEqual({ name: 'alice', role: 'engineer' });
    const lastUsed = () => store.list()[0]!.lastUsed;
    expect(lastUsed()).toBe('2026-03-01T00:00:00.000Z');
    clock.advance(59_000);
    tokens.identify(token);
    expect(lastUsed()).toBe('2026-03-01T00:00:00.000Z');
    clock.advance(1_000);
    tokens.identify(token);
    expect(lastUsed()).toBe('2026-03-01T00:01:00.000Z');
    expect(tokens.list().map((t) => `${t.name}:${t.role}:${t.source}`)).toEqual(['alice:viewer:file', 'alice:engineer:api']);
  });
});

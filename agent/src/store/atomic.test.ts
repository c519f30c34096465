import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isPdmError } from '@pdm/protocol';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from './atomic.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('atomic files', () => {
  it('replaces a file whole and leaves no temp file behind', () => {
    const file = join(dir, 'state.json');
    writeJsonAtomic(file, { a: 1 });
    writeFileAtomic(file, '{"a":2}');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ a: 2 });
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('reads a missing file as undefined and names the file and the problem otherwise', () => {
    const schema = z.strictObject({ a: z.number() });
    expect(readJsonFile(join(dir, 'nope.json'), schema)).toBeUndefined();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"a":"x"}');
    const err = (() => {
      try {
        readJsonFile(bad, schema);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isPdmError(err, 'INTERNAL')).toBe(true);
    expect((err as Error).message).toMatch(/bad\.json: a: /);
    writeFileSync(bad, '{');
    expect(() => readJsonFile(bad, schema, 'CONFIG_INVALID')).toThrow(/not valid JSON/);
  });
});

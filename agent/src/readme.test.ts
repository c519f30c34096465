import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { configFields } from './config/fields.js';

it('agent/README.md documents every configuration field', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const missing = configFields().filter((f) => !readme.includes(`| \`${f.path}\` |`)).map((f) => f.path);
  expect(missing).toEqual([]);
});

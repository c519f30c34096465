import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ARTIFACTS_DIR, README_PATH } from './paths.js';
import { renderTable } from './readme-table.js';

describe('models/README.md artifact table', () => {
  it('is in step with the committed cards and model files', () => {
    const table = renderTable(ARTIFACTS_DIR);
    expect(table.split('\n').filter((l) => l.startsWith('| azure-pdm-failure-24h | 1.0.0 |'))).toHaveLength(1);
    expect(readFileSync(README_PATH, 'utf8')).toContain(table);
  });
});

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAi4i } from '../data/ai4i.js';
import { loadCmapssFd001 } from '../data/cmapss.js';
import { DATA_DIR } from '../paths.js';
import { phm08Score } from './cmapss.js';
import { horizonLabels } from './labels.js';
import { stratifiedFolds } from './threshold.js';

describe('horizonLabels', () => {
  it('labels t positive when a failure of the same asset falls in (t, t + horizon]', () => {
    const H = 3_600_000;
    const times = [0, 1, 2, 3, 4, 5].map((h) => h * H);
    const y = horizonLabels([1, 1, 1, 1, 1, 2], times, [{ assetId: 1, time: 4 * H }], 2 * H);
    expect([...y]).toEqual([0, 0, 1, 1, 0, 0]);
  });
});

describe('stratifiedFolds', () => {
  it('keeps every stratum\'s share in every fold and is seeded', () => {
    const strata = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 'rare' : 'common'));
    const folds = stratifiedFolds(strata, 5, 1);
    for (let k = 0; k < 5; k++) {
      expect(strata.filter((s, i) => folds[i] === k && s === 'rare')).toHaveLength(20);
      expect(strata.filter((_, i) => folds[i] === k)).toHaveLength(200);
    }
    expect([...stratifiedFolds(strata, 5, 1)]).toEqual([...folds]);
    expect([...stratifiedFolds(strata, 5, 2)]).not.toEqual([...folds]);
  });
});

describe('data loaders on the committed files', () => {
  it('AI4I: strips the byte-order mark and reads 10,000 rows with 339 failures', () => {
    const rows = loadAi4i(join(DATA_DIR, 'ai4i2020'));
    expect(rows).toHaveLength(10_000);
    expect(rows[0]!.udi).toBe(1);
    expect(rows.filter((r) => r.failure === 1)).toHaveLength(339);
    expect(rows.filter((r) => r.modes.includes('TWF'))).toHaveLength(46);
    expect(rows[0]!.raw).toMatchObject({ type: 'M', torque: '42.8' });
  });

  it('C-MAPSS FD001: 100 training and 100 test engines, RUL per test engine', () => {
    const data = loadCmapssFd001(join(DATA_DIR, 'cmapss'));
    expect(data.train.size).toBe(100);
    expect(data.test.size).toBe(100);
    expect([...data.train.values()].reduce((n, c) => n + c.length, 0)).toBe(20_631);
    expect(data.testRul.get(1)).toBe(112);
    expect(Math.min(...[...data.test.values()].map((c) => c.length))).toBe(31);
  });

  it('PHM08 score penalises late predictions more than early ones', () => {
    expect(phm08Score([0], [0])).toBe(0);
    expect(phm08Score([110], [100])).toBeCloseTo(Math.E - 1, 10);
    expect(phm08Score([90], [100])).toBeCloseTo(Math.exp(10 / 13) - 1, 10);
  });
});

/**
 * AI4I on the real data: the held-out split does not depend on the derived columns, a small model with
 * 1.1.0's derived columns scores the same in onnxruntime as in process, and every committed version
 * scores the held-out rows, through onnxruntime, exactly as its card says.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelCardSchema } from '@pdm/protocol';
import { predict } from '../gbdt/model.js';
import { trainGbdt } from '../gbdt/train.js';
import { exportTreeClassifier } from '../onnx/tree-ensemble.js';
import { ARTIFACTS_DIR, DATA_DIR } from '../paths.js';
import { evaluateAi4i, prepareAi4i } from '../pipelines/ai4i.js';
import { AI4I_PHYSICS_DERIVED } from '../pipelines/ai4i-physics.js';
import { AI4I_NAME, AI4I_VERSIONS, firstColumns } from './ai4i.js';
import { maxAbsDiff, scoreWithOnnx } from './common.js';

const dataDir = join(DATA_DIR, 'ai4i2020');
const physics = prepareAi4i(dataDir, AI4I_PHYSICS_DERIVED);

describe('AI4I builds on the real data', () => {
  it('hold out the same 2,007 rows (74 failures) whatever the derived columns', () => {
    const plain = prepareAi4i(dataDir);
    expect(physics.test.rows).toBe(2007);
    expect(physics.testY.reduce((a, b) => a + b, 0)).toBe(74);
    expect(firstColumns(physics.test.x, physics.test.width, 6)).toEqual(firstColumns(plain.test.x, plain.test.width, 6));
    expect([...physics.testY]).toEqual([...plain.testY]);
  });

  it('a model on 1.1.0\'s derived columns scores real rows in onnxruntime as in process (within 1e-5)', async () => {
    const model = trainGbdt(physics.train.x, physics.trainY, { objective: 'binary-logistic', trees: 30, maxDepth: 4, seed: 1 });
    const bytes = exportTreeClassifier(model, { inputName: 'features', graphName: 'test', derived: AI4I_PHYSICS_DERIVED });
    const onnx = await scoreWithOnnx(bytes, firstColumns(physics.test.x, physics.test.width, 6), 6);
    const local = predict(model, physics.test.x);
    expect(maxAbsDiff(local, onnx)).toBeLessThan(1e-5);
    expect(Math.max(...local) - Math.min(...local)).toBeGreaterThan(0.5);
  });

  it.each(AI4I_VERSIONS.map((v) => ({ version: v.version, derived: v.derived })))(
    'the committed $version scores the held-out rows as its card says',
    async ({ version, derived }) => {
      const dir = join(ARTIFACTS_DIR, AI4I_NAME, version);
      const card = modelCardSchema.parse(JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8')));
      const split = prepareAi4i(dataDir, derived);
      const scores = await scoreWithOnnx(readFileSync(join(dir, 'model.onnx')), firstColumns(split.test.x, split.test.width, 6), 6);
      const metrics = evaluateAi4i(split, card.featureSpec, scores);
      for (const name of ['row.f1', 'row.precision', 'row.recall', 'row.falsePositives']) {
        expect([name, metrics[name]!.value]).toEqual([name, card.metrics[name]!.value]);
      }
    },
  );
});

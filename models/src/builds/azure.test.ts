import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkReading, FeatureWindows } from '@pdm/protocol';
import { predict } from '../gbdt/model.js';
import { trainGbdt } from '../gbdt/train.js';
import { exportTreeClassifier } from '../onnx/tree-ensemble.js';
import { DATA_DIR } from '../paths.js';
import { AZURE_FULL_AGGS, azureFeatureEntries, azureFeatureSpec } from '../pipelines/azure-features.js';
import { azureSeries, prepareAzure, splitAzure, AZURE_TEST_START } from '../pipelines/azure-pdm.js';
import { maxAbsDiff, scoreWithOnnx } from './common.js';

const features = azureFeatureEntries(AZURE_FULL_AGGS);
const dataset = prepareAzure(join(DATA_DIR, 'azure-pdm'), features);
const split = splitAzure(dataset);

describe('Azure PdM pipeline on the real data', () => {
  it('splits by time with an embargo and labels 24 h before each failure', () => {
    expect(Math.max(...split.train.times)).toBeLessThan(AZURE_TEST_START - 24 * 3_600_000);
    expect(Math.min(...split.test.times)).toBe(AZURE_TEST_START);
    // 15 + 7 failure events with full windows, 24 positive hours each
    expect(split.trainY.reduce((a, b) => a + b, 0)).toBe(15 * 24);
    expect(split.testY.reduce((a, b) => a + b, 0)).toBe(7 * 24);
    expect(split.testEvents).toHaveLength(7);
  });

  it('builds feature rows exactly as the agent does with FeatureWindows', () => {
    const spec = azureFeatureSpec(features, 0.5);
    const machine3 = azureSeries(dataset.data).get(3)!;
    const windows = new FeatureWindows(spec);
    let expected: Float32Array | undefined;
    for (const reading of machine3) {
      const check = checkReading(spec, reading.raw);
      if (!check.ok) continue;
      windows.push(check.values);
      if (reading.time === AZURE_TEST_START) expected = windows.vector();
    }
    const row = split.test.assetIds.findIndex((id, i) => id === 3 && split.test.times[i] === AZURE_TEST_START);
    expect(expected).toBeDefined();
    expect([...split.test.x.subarray(row * features.length, (row + 1) * features.length)]).toEqual([...expected!]);
  });

  it('an exported model scores real rows in onnxruntime as the in-process model does (within 1e-5)', async () => {
    const model = trainGbdt(split.train.x, split.trainY, { objective: 'binary-logistic', trees: 30, maxDepth: 3, subsample: 0.8, seed: 1 });
    const bytes = exportTreeClassifier(model, { inputName: 'features', graphName: 'test' });
    const onnx = await scoreWithOnnx(bytes, split.test.x, features.length);
    const local = predict(model, split.test.x);
    expect(onnx).toHaveLength(split.test.rows);
    expect(maxAbsDiff(local, onnx)).toBeLessThan(1e-5);
    expect(Math.max(...local) - Math.min(...local)).toBeGreaterThan(0.1);
  });
});

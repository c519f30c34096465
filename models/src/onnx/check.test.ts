import { describe, expect, it } from 'vitest';
import { isPdmError, type FeatureSpec } from '@pdm/protocol';
import type { GbdtModel } from '../gbdt/model.js';
import { checkModelAgainstSpec } from './check.js';
import { ELEM_FLOAT, encodeModel, tensorInfo } from './proto.js';
import { exportTreeClassifier, exportTreeRegressor } from './tree-ensemble.js';

const stump = (objective: GbdtModel['objective'], width: number): GbdtModel => ({
  objective,
  width,
  baseScore: 0,
  trees: [{ feature: [0, -1, -1], threshold: [0.5, 0, 0], left: [1, -1, -1], right: [2, -1, -1], value: [0, -1, 1] }],
});

function spec(width: number, overrides: Partial<FeatureSpec> = {}): FeatureSpec {
  return {
    signals: [{ name: 's', min: 0, max: 1 }],
    features: Array.from({ length: width }, (_, i) => ({ name: `f${i}`, signal: 's', agg: 'mean' as const, window: i + 1 })),
    input: { name: 'features' },
    output: { name: 'probabilities', column: 1 },
    task: 'failure-within-horizon',
    threshold: 0.5,
    alertWhen: 'above',
    horizonHours: 24,
    readingIntervalSeconds: 3600,
    ...overrides,
  };
}

async function rejection(bytes: Uint8Array, s: FeatureSpec): Promise<{ code: string; message: string }> {
  try {
    await checkModelAgainstSpec(bytes, s);
  } catch (err) {
    if (isPdmError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('checkModelAgainstSpec', () => {
  const classifier = exportTreeClassifier(stump('binary-logistic', 3), { inputName: 'features', graphName: 'c' });

  it('accepts a model that fits its spec', async () => {
    await expect(checkModelAgainstSpec(classifier, spec(3))).resolves.toBeUndefined();
    const regressor = exportTreeRegressor(stump('squared-error', 3), { inputName: 'features', graphName: 'r' });
    await expect(checkModelAgainstSpec(regressor, spec(3, { output: { name: 'prediction', column: 0 } }))).resolves.toBeUndefined();
  });

  it('rejects bytes that are not a model with MODEL_LOAD_FAILED', async () => {
    const r = await rejection(new TextEncoder().encode('not an onnx model'), spec(3));
    expect(r.code).toBe('MODEL_LOAD_FAILED');
  });

  it('names the wrong input, width, output and column precisely', async () => {
    expect(await rejection(classifier, spec(3, { input: { name: 'x' } }))).toEqual({
      code: 'MODEL_SPEC_MISMATCH',
      message: 'model input is named "features" but the feature spec says "x"',
    });
    expect((await rejection(classifier, spec(4))).message).toBe('model input "features" takes 3 features but the feature spec lists 4');
    expect((await rejection(classifier, spec(3, { output: { name: 'score', column: 0 } }))).message).toBe(
      'model has no output "score" (outputs: label, probabilities)',
    );
    expect((await rejection(classifier, spec(3, { output: { name: 'probabilities', column: 2 } }))).message).toBe(
      'feature spec reads column 2 of output "probabilities", which has 2 column(s)',
    );
    expect((await rejection(classifier, spec(3, { output: { name: 'label', column: 0 } }))).message).toBe(
      'model output "label" is int64; the score output must be float32',
    );
  });

  it('catches a width mismatch that only a probe run reveals (symbolic feature dimension)', async () => {
    // An input declared [N, F] with a symbolic F: metadata cannot tell the width, the probe run can.
    const bytes = encodeModel({
      graphName: 'identity',
      opsets: { '': 17 },
      inputs: [tensorInfo('features', ELEM_FLOAT, ['N', 'F'])],
      outputs: [tensorInfo('out', ELEM_FLOAT, ['N', 'F'])],
      nodes: [{ opType: 'Identity', input: ['features'], output: ['out'] }],
    });
    await expect(checkModelAgainstSpec(bytes, spec(2, { output: { name: 'out', column: 1 } }))).resolves.toBeUndefined();
    expect((await rejection(bytes, spec(2, { output: { name: 'out', column: 2 } }))).message).toBe(
      'model output "out" has shape [2, 2] for 2 rows; the contract is [N] or [N, k] with column 2 < k',
    );
  });

  it('rejects a model with two inputs', async () => {
    const bytes = encodeModel({
      graphName: 'two',
      opsets: { '': 17 },
      inputs: [tensorInfo('features', ELEM_FLOAT, ['N', 2]), tensorInfo('b', ELEM_FLOAT, ['N', 2])],
      outputs: [tensorInfo('out', ELEM_FLOAT, ['N', 2])],
      nodes: [{ opType: 'Add', input: ['features', 'b'], output: ['out'] }],
    });
    const r = await rejection(bytes, spec(2, { output: { name: 'out', column: 0 } }));
    expect(r).toEqual({ code: 'MODEL_SPEC_MISMATCH', message: 'model has 2 inputs (features, b); the contract is exactly one float32 input [N, 2]' });
  });
});

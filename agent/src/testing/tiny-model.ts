/**
 * Writes a tiny real ONNX model and its card for tests: score = sigmoid(x . w + b) on a float32 [N, F]
 * input, built with onnx-proto (no Python). `activation: 'identity'` skips the sigmoid, so weights of
 * Infinity give non-finite scores, as a broken model would.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { FeatureSpec, ModelCard } from '@pdm/protocol';

const { onnx } = onnxProto;
const FLOAT = 1;

export interface TinyModelOptions {
  readonly weights: readonly number[];
  readonly bias?: number;
  readonly activation?: 'sigmoid' | 'identity';
  readonly inputName?: string;
  readonly outputName?: string;
  /** Declared feature count of the input; defaults to weights.length (set it to build a mismatch). */
  readonly declaredFeatures?: number;
}

export function tinyOnnx(options: TinyModelOptions): Uint8Array {
  const f = options.weights.length;
  const input = options.inputName ?? 'x';
  const output = options.outputName ?? 'score';
  const sigmoid = (options.activation ?? 'sigmoid') === 'sigmoid';
  const tensorType = (dims: (number | string)[]) => ({
    tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'pdm-agent-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny',
      node: [
        { opType: 'MatMul', input: [input, 'W'], output: ['mm'] },
        { opType: 'Add', input: ['mm', 'B'], output: [sigmoid ? 'logit' : output] },
        ...(sigmoid ? [{ opType: 'Sigmoid', input: ['logit'], output: [output] }] : []),
      ],
      initializer: [
        { name: 'W', dims: [f, 1], dataType: FLOAT, floatData: [...options.weights] },
        { name: 'B', dims: [1], dataType: FLOAT, floatData: [options.bias ?? 0] },
      ],
      input: [{ name: input, type: tensorType(['N', options.declaredFeatures ?? f]) }],
      output: [{ name: output, type: tensorType(['N', 1]) }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The first hour of the drift tests' readings (2015-01-01T00:00Z). */
export const TINY_T0 = Date.parse('2015-01-01T00:00:00Z');

/** Hour `h`'s reading of the tiny spec's signals a and b (CSV strings), values that move every hour: the drift tests' input. */
export const tinyReading = (h: number) => ({ time: TINY_T0 + h * 3_600_000, values: { a: String((h * 37) % 90), b: String((h * 53) % 80) } });

/** A feature spec over signals `a` and `b`: mean of the last 3 `a`, last `b`. */
export function tinySpec(overrides: Partial<FeatureSpec> = {}): FeatureSpec {
  return {
    signals: [
      { name: 'a', min: -100, max: 100 },
      { name: 'b', min: -100, max: 100 },
    ],
    features: [
      { name: 'a_mean_3', signal: 'a', agg: 'mean', window: 3 },
      { name: 'b_last_1', signal: 'b', agg: 'last', window: 1 },
    ],
    input: { name: 'x' },
    output: { name: 'score', column: 0 },
    task: 'failure-within-horizon',
    threshold: 0.5,
    alertWhen: 'above',
    horizonHours: 24,
    readingIntervalSeconds: 3600,
    ...overrides,
  };
}

export function tinyCard(spec: FeatureSpec, onnxBytes: Uint8Array, overrides: Partial<ModelCard> = {}): ModelCard {
  return {
    schemaVersion: 1,
    name: 'tiny',
    version: '1.0.0',
    description: 'test model: sigmoid of a linear function of the features',
    variant: 'reference',
    data: { name: 'synthetic', source: 'agent tests', licence: 'Apache-2.0', rows: 0 },
    featureSpec: spec,
    split: 'none',
    metrics: {},
    thresholdChoice: 'fixed for tests',
    limits: [],
    training: { algorithm: 'none', params: {}, seed: 0 },
    sha256: createHash('sha256').update(onnxBytes).digest('hex'),
    createdAt: '2020-01-01T00:00:00Z',
    ...overrides,
  };
}

/** Writes model.onnx and card.json into `dir`; returns `dir`. */
export function writeTinyModel(
  dir: string,
  options: TinyModelOptions = { weights: [1, 1] },
  spec: FeatureSpec = tinySpec(),
  cardOverrides: Partial<ModelCard> = {},
): string {
  mkdirSync(dir, { recursive: true });
  const bytes = tinyOnnx(options);
  writeFileSync(join(dir, 'model.onnx'), bytes);
  writeFileSync(join(dir, 'card.json'), JSON.stringify(tinyCard(spec, bytes, cardOverrides), null, 2));
  return dir;
}

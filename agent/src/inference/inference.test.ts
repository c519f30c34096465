import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FeatureWindows, checkReading, isPdmError } from '@pdm/protocol';
import { systemClock } from '../clock.js';
import { tinySpec, writeTinyModel } from '../testing/tiny-model.js';
import { AlertPolicy } from './alerts.js';
import { loadModel } from './model.js';
import { InferenceRunner } from './runner.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-inference-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

async function failure(dirPath: string): Promise<{ code: string; message: string; context: Record<string, unknown> }> {
  const err = await loadModel(dirPath).catch((e: unknown) => e);
  if (!isPdmError(err)) throw new Error(`expected a PdmError, got ${String(err)}`);
  return err;
}

describe('loadModel and InferenceRunner on real ONNX models', () => {
  it('scores a batch with sigmoid(x . w + b), reading output[row * width + column]', async () => {
    const model = await loadModel(writeTinyModel(join(dir, 'tiny'), { weights: [0.5, -1], bias: 0.25 }));
    const runner = new InferenceRunner({ model, clock: systemClock });
    const rows = [new Float32Array([1, 2]), new Float32Array([0, 0]), new Float32Array([4, -3])];
    const { scores, latencyMs } = await runner.score(rows);
    expect(scores).toHaveLength(3);
    [0.5 - 2 + 0.25, 0.25, 2 + 3 + 0.25].forEach((z, i) => expect(scores[i]).toBeCloseTo(sigmoid(z), 6));
    expect(latencyMs).toBeGreaterThanOrEqual(0);
    await model.session.release();
  });

  it('scores the first rows of a longer buffer in place, as score() scores the same rows given one by one', async () => {
    const model = await loadModel(writeTinyModel(join(dir, 'batch'), { weights: [0.5, -1], bias: 0.25 }));
    const runner = new InferenceRunner({ model, clock: systemClock });
    // four rows of room, three filled; the fourth holds garbage that must not be read
    const data = new Float32Array([1, 2, 0, 0, 4, -3, Number.NaN, Number.NaN]);
    const { scores } = await runner.scoreBatch(data, 3);
    const oneByOne = await runner.score([data.slice(0, 2), data.slice(2, 4), data.slice(4, 6)]);
    expect(scores).toEqual(oneByOne.scores);
    expect(scores.every(Number.isFinite)).toBe(true);
    await expect(runner.scoreBatch(data, 5)).rejects.toMatchObject({ code: 'INFERENCE_FAILED' });
    await model.session.release();
  });

  it('returns non-finite scores as they are, for the caller to count', async () => {
    const model = await loadModel(writeTinyModel(join(dir, 'inf'), { weights: [Infinity, 0], activation: 'identity' }));
    const { scores } = await new InferenceRunner({ model, clock: systemClock }).score([new Float32Array([1, 0]), new Float32Array([-1, 0])]);
    expect(scores).toEqual([Infinity, -Infinity]);
    await model.session.release();
  });

  it('lists every mismatch between the model and its feature spec', async () => {
    const spec = tinySpec({ input: { name: 'features' }, output: { name: 'probabilities', column: 1 } });
    const err = await failure(writeTinyModel(join(dir, 'mismatch'), { weights: [1, 1] }, spec));
    expect(err.code).toBe('MODEL_SPEC_MISMATCH');
    expect(err.context['problems']).toEqual([
      'input "features" not in the model (it has "x")',
      'model has inputs the spec does not feed: "x"',
      'output "probabilities" not in the model (it has "score")',
    ]);

    const wide = await failure(writeTinyModel(join(dir, 'wide'), { weights: [1, 1, 1] }, tinySpec({ output: { name: 'score', column: 3 } })));
    expect(wide.context['problems']).toEqual([
      'input "x" has 3 columns, the spec lists 2 features',
      'output column 3 is outside "score" of width 1',
    ]);
  });

  it('rejects an invalid card, a missing model and a model that is not the one the card names', async () => {
    const badCard = writeTinyModel(join(dir, 'bad-card'));
    writeFileSync(join(badCard, 'card.json'), JSON.stringify({ schemaVersion: 1, name: 'x' }));
    expect(await failure(badCard)).toMatchObject({ code: 'MODEL_CARD_INVALID', message: expect.stringMatching(/version/) });

    expect((await failure(join(dir, 'nowhere'))).code).toBe('MODEL_CARD_INVALID');

    const swapped = writeTinyModel(join(dir, 'swapped'));
    writeFileSync(join(swapped, 'model.onnx'), Buffer.from('not onnx'));
    expect(await failure(swapped)).toMatchObject({ code: 'MODEL_LOAD_FAILED', message: expect.stringMatching(/sha256/) });

    const garbage = writeTinyModel(join(dir, 'garbage'), { weights: [1, 1] }, tinySpec(), { sha256: undefined });
    writeFileSync(join(garbage, 'model.onnx'), Buffer.from('not onnx'));
    expect(await failure(garbage)).toMatchObject({ code: 'MODEL_LOAD_FAILED', message: expect.stringMatching(/onnxruntime/) });
  });

  const reference = new URL('../../../models/artifacts/azure-pdm-failure-24h/1.0.0/', import.meta.url).pathname;
  it('runs the reference Azure PdM model on features from real telemetry rows', async () => {
    const model = await loadModel(reference);
    const spec = model.card.featureSpec;
    const telemetry = new URL('../../../models/data/azure-pdm/PdM_telemetry_machines1-15_2015-01-01_to_2015-04-01.csv', import.meta.url);
    const [header, ...lines] = readFileSync(telemetry, 'utf8').split('\n');
    const columns = header!.split(',');
    const windows = new FeatureWindows(spec);
    const rows: Float32Array[] = [];
    for (const line of lines.filter((l) => l.split(',')[1] === '3').slice(0, 30)) {
      const values = Object.fromEntries(line.split(',').map((v, i) => [columns[i]!, v]));
      const check = checkReading(spec, values);
      expect(check.ok).toBe(true);
      if (check.ok) windows.push(check.values);
      const row = windows.vector();
      if (row !== undefined) rows.push(row);
    }
    const { scores } = await new InferenceRunner({ model, clock: systemClock }).score(rows);
    expect(scores).toHaveLength(30 - 24 + 1);
    for (const s of scores) {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
    }
    await model.session.release();
  });
});

describe('AlertPolicy', () => {
  const hour = 3_600_000;

  it('raises on the rising edge and again only after the cooldown while the score stays past the threshold', () => {
    const policy = new AlertPolicy({ threshold: 0.5, alertWhen: 'above' }, { cooldownMs: 3 * hour, criticalMargin: 0.5 });
    const scores = [0.1, 0.6, 0.7, 0.8, 0.6, 0.9, 0.2, 0.55];
    const raised = scores.map((s, i) => policy.observe(i * hour, s).raise?.severity ?? (policy.passes(s) ? 'passed' : '-'));
    expect(raised).toEqual(['-', 'warning', 'passed', 'passed', 'warning', 'passed', '-', 'warning']);
  });

  it('grades severity by how far the score went toward the end of its range', () => {
    const above = new AlertPolicy({ threshold: 0.2, alertWhen: 'above' }, { cooldownMs: 0, criticalMargin: 0.5 });
    expect([0.2, 0.59, 0.61, 1].map((s) => above.observe(0, s).raise?.severity)).toEqual(['warning', 'warning', 'critical', 'critical']);
    const below = new AlertPolicy({ threshold: 48, alertWhen: 'below' }, { cooldownMs: 0, criticalMargin: 0.5 });
    expect([60, 48, 25, 24, 0].map((s) => below.observe(0, s).raise?.severity)).toEqual([undefined, 'warning', 'warning', 'critical', 'critical']);
  });
});

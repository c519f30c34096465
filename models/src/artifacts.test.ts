/**
 * Every committed artifact: its card validates, its model.onnx matches the card's sha256, loads in
 * onnxruntime and fits the card's feature spec (names, widths) through checkModelAgainstSpec.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { modelCardSchema, type ModelCard } from '@pdm/protocol';
import { sha256 } from './card/card.js';
import { renderCard } from './card/render.js';
import { checkModelAgainstSpec } from './onnx/check.js';
import { openSession } from './onnx/runtime.js';
import { ARTIFACTS_DIR } from './paths.js';

const artifacts = readdirSync(ARTIFACTS_DIR).flatMap((name) =>
  readdirSync(join(ARTIFACTS_DIR, name)).map((version) => ({ name, version, dir: join(ARTIFACTS_DIR, name, version) })),
);

function card(name: string, version: string): ModelCard {
  return modelCardSchema.parse(JSON.parse(readFileSync(join(ARTIFACTS_DIR, name, version, 'card.json'), 'utf8')));
}

const AZURE = 'azure-pdm-failure-24h';

describe('committed artifacts', () => {
  it('include every model the project ships', () => {
    expect(artifacts.map((a) => `${a.name}@${a.version}`).sort()).toEqual([
      'ai4i-machine-failure@1.0.0',
      'ai4i-machine-failure@1.1.0',
      `${AZURE}-linear@1.0.0`,
      `${AZURE}@1.0.0`,
      `${AZURE}@1.1.0-degraded`,
      `${AZURE}@1.2.0-nan`,
      `${AZURE}@1.3.0-noisy`,
      `${AZURE}@2.0.0`,
      'cmapss-fd001-rul@1.0.0',
    ]);
  });

  it('Azure variants share 1.0.0\'s signals, features, input and output, are labelled degraded, and are measurably worse', () => {
    const reference = card(AZURE, '1.0.0');
    const shape = (c: ModelCard): unknown => ({ ...c.featureSpec, threshold: 0 });
    for (const version of ['1.1.0-degraded', '1.2.0-nan', '1.3.0-noisy']) {
      const variant = card(AZURE, version);
      expect(variant.variant).toBe('degraded');
      expect(shape(variant)).toEqual(shape(reference));
    }
    const recall = (c: ModelCard): number => c.metrics['hour.recall']!.value;
    expect(recall(card(AZURE, '1.1.0-degraded'))).toBeLessThan(recall(reference) - 0.1);
    expect(card(AZURE, '1.3.0-noisy').metrics['hour.alertRate']!.value).toBeGreaterThan(5 * reference.metrics['hour.alertRate']!.value);
    expect(reference.variant).toBe('reference');
  });

  it('ai4i 1.1.0 takes the same six process signals as 1.0.0, so a device feeding 1.0.0 can run it', () => {
    const shape = (c: ModelCard): unknown => ({ ...c.featureSpec, threshold: 0 });
    expect(shape(card('ai4i-machine-failure', '1.1.0'))).toEqual(shape(card('ai4i-machine-failure', '1.0.0')));
  });

  it('the NaN variant scores NaN for every row while 1.0.0 scores finite values', async () => {
    // One typical healthy reading's 28 features (volt, rotate, pressure, vibration x mean3, std3, mean24, std24, max24, min24, slope24).
    const typical = [170, 13, 170, 15, 200, 140, 0, 450, 40, 450, 50, 540, 350, 0, 100, 9, 100, 10, 120, 80, 0, 40, 4, 40, 5, 50, 30, 0];
    const rows = 4;
    const x = Float32Array.from({ length: rows * 28 }, (_, i) => typical[i % 28]!);
    const scores = async (version: string): Promise<Float32Array> => {
      const session = await openSession(readFileSync(join(ARTIFACTS_DIR, AZURE, version, 'model.onnx')));
      const out = await session.run({ features: new ort.Tensor('float32', x, [rows, 28]) });
      await session.release();
      return out.probabilities!.data as Float32Array;
    };
    expect([...(await scores('1.2.0-nan'))].every(Number.isNaN)).toBe(true);
    expect([...(await scores('1.0.0'))].every(Number.isFinite)).toBe(true);
  });

  it.each(artifacts)('$name $version: card valid, model fits its feature spec', async ({ name, version, dir }) => {
    const card = modelCardSchema.parse(JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8')));
    expect([card.name, card.version]).toEqual([name, version]);
    const bytes = readFileSync(join(dir, 'model.onnx'));
    expect(sha256(bytes)).toBe(card.sha256);
    expect(readFileSync(join(dir, 'CARD.md'), 'utf8')).toBe(renderCard(card));
    await checkModelAgainstSpec(bytes, card.featureSpec);
    const session = await openSession(bytes);
    expect(session.inputNames).toEqual([card.featureSpec.input.name]);
    expect(session.outputNames).toContain(card.featureSpec.output.name);
    const input = session.inputMetadata[0]!;
    expect(input.isTensor && input.shape[1]).toBe(card.featureSpec.features.length);
    await session.release();
  });
});

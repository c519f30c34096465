/**
 * Every committed artifact: its card validates, its model.onnx matches the card's sha256, loads in
 * onnxruntime and fits the card's feature spec (names, widths) through checkModelAgainstSpec.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelCardSchema } from '@pdm/protocol';
import { sha256 } from './card/card.js';
import { renderCard } from './card/render.js';
import { checkModelAgainstSpec } from './onnx/check.js';
import { openSession } from './onnx/runtime.js';
import { ARTIFACTS_DIR } from './paths.js';

const artifacts = readdirSync(ARTIFACTS_DIR).flatMap((name) =>
  readdirSync(join(ARTIFACTS_DIR, name)).map((version) => ({ name, version, dir: join(ARTIFACTS_DIR, name, version) })),
);

describe('committed artifacts', () => {
  it('include the Azure reference model', () => {
    expect(artifacts.map((a) => `${a.name}@${a.version}`)).toContain('azure-pdm-failure-24h@1.0.0');
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

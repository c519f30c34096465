import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '@pdm/protocol';
import { MODEL, artifactFiles, startRolloutHarness, type RolloutHarness } from '../rollouts/testing/harness.js';

let h: RolloutHarness;
beforeAll(async () => { h = await startRolloutHarness({ flags: { maxModelBytes: '100000' } }); });
afterAll(async () => { await h.stop(); });

const body = (version: string, over: Record<string, unknown> = {}) => {
  const { model, card } = artifactFiles(version);
  return { name: MODEL, version, card, model: model.toString('base64'), ...over };
};
const publish = (b: unknown) => h.api('POST', '/api/v1/models', b);

describe('model registry', () => {
  it('accepts a model that fits its card, stores it by sha256, and lists and shows it', async () => {
    const res = await publish(body('1.0.0', { reason: 'reference model' }));
    expect(res.status).toBe(201);
    const { model, card } = artifactFiles('1.0.0');
    expect(res.body.model).toMatchObject({ name: MODEL, version: '1.0.0', sha256: sha256(model), length: model.length, variant: 'reference', publishedBy: 'admin', reason: 'reference model' });
    expect(h.tc.app.fleet.registry.artifacts.read(sha256(model), 0, model.length).equals(model)).toBe(true);
    expect((await h.api('GET', '/api/v1/models')).body).toMatchObject({ count: 1, models: [{ name: MODEL, versions: 1, latestVersion: '1.0.0' }] });
    const shown = (await h.api('GET', `/api/v1/models/${MODEL}/versions/1.0.0`)).body.model;
    expect(shown.card).toEqual(card);
    expect((await h.api('GET', `/api/v1/models/${MODEL}`)).body.versions.map((v: { version: string }) => v.version)).toEqual(['1.0.0']);
    // the same bytes again: nothing new, 200
    expect((await publish(body('1.0.0'))).status).toBe(200);
  });

  it.each([
    ['a card that is not a model card', body('1.0.0', { version: '2.0.0', card: { ...artifactFiles('1.0.0').card, version: '2.0.0', featureSpec: { signals: [] } } }), 'MODEL_CARD_INVALID', /card\.featureSpec\.signals/],
    ['a card naming another version', body('1.0.0', { version: '2.0.0' }), 'MODEL_CARD_INVALID', /the card's version is "1\.0\.0" but the request says "2\.0\.0"/],
    ['a card whose sha256 is another file\'s', body('1.2.0-nan', { card: artifactFiles('1.0.0').card, version: '1.0.0' }), 'MODEL_CARD_INVALID', /card\.sha256 .* is not the sha256 of the model file/],
    ['bytes that are not ONNX', body('1.0.0', { version: '3.0.0', card: { ...artifactFiles('1.0.0').card, version: '3.0.0', sha256: undefined }, model: Buffer.from('not a model').toString('base64') }), 'MODEL_LOAD_FAILED', /./],
    ['a model whose input does not match the spec', body('1.0.0', { version: '4.0.0', card: specWith({ input: { name: 'features_x' } }, '4.0.0') }), 'MODEL_SPEC_MISMATCH', /model input is named .* but the feature spec says "features_x"/],
    ['a model with fewer features than the spec', body('1.0.0', { version: '5.0.0', card: specWith({ features: [...(artifactFiles('1.0.0').card.featureSpec as { features: unknown[] }).features, { name: 'extra', signal: 'volt', agg: 'last', window: 1 }] }, '5.0.0') }), 'MODEL_SPEC_MISMATCH', /features but the feature spec lists/],
    ['base64 that is not', body('1.0.0', { model: 'not base64!' }), 'REQUEST_INVALID', /body\.model/],
  ])('refuses %s with a clear 400', async (_what, b, code, message) => {
    const res = await publish(b);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(message);
  });

  it('refuses other bytes under a published version (409) and a file over maxModelBytes (413)', async () => {
    await publish(body('1.0.0'));
    const other = await publish(body('1.0.0', { model: artifactFiles('1.3.0-noisy').model.toString('base64'), card: { ...artifactFiles('1.0.0').card, sha256: undefined } }));
    expect(other.status).toBe(409);
    expect(other.body.error.message).toMatch(/already published with other model bytes; publish a new version/);
    const big = await publish(body('1.0.0', { version: '6.0.0', card: { ...artifactFiles('1.0.0').card, version: '6.0.0', sha256: undefined }, model: Buffer.alloc(150_000).toString('base64') }));
    expect(big.status).toBe(413);
  });

  it('answers 404 for what it does not hold', async () => {
    expect((await h.api('GET', '/api/v1/models/nope')).status).toBe(404);
    expect((await h.api('GET', `/api/v1/models/${MODEL}/versions/0.0.1`)).body.error).toMatchObject({ code: 'NOT_FOUND', context: { version: '0.0.1' } });
  });
});

function specWith(over: Record<string, unknown>, version: string): Record<string, unknown> {
  const card = artifactFiles('1.0.0').card;
  return { ...card, version, featureSpec: { ...(card.featureSpec as object), ...over } };
}


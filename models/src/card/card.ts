/**
 * Assembles a model card, validates it against @pdm/protocol's modelCardSchema (an invalid card is
 * never written), and writes an artifact folder: model.onnx, card.json, CARD.md.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { modelCardSchema, PdmError, type ModelCard } from '@pdm/protocol';
import { renderCard } from './render.js';

export type CardDraft = Omit<ModelCard, 'schemaVersion' | 'sha256' | 'createdAt'>;

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function buildCard(draft: CardDraft, modelBytes: Uint8Array, createdAt: Date): ModelCard {
  const parsed = modelCardSchema.safeParse({
    schemaVersion: 1,
    ...draft,
    sha256: sha256(modelBytes),
    createdAt: createdAt.toISOString(),
  });
  if (!parsed.success) {
    throw new PdmError('MODEL_CARD_INVALID', `card of ${draft.name} ${draft.version}: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export interface WrittenArtifact {
  dir: string;
  modelPath: string;
  cardPath: string;
  markdownPath: string;
  modelBytes: number;
}

/** Writes <root>/<name>/<version>/{model.onnx, card.json, CARD.md}. */
export function writeArtifact(root: string, card: ModelCard, modelBytes: Uint8Array): WrittenArtifact {
  const dir = join(root, card.name, card.version);
  mkdirSync(dir, { recursive: true });
  const modelPath = join(dir, 'model.onnx');
  const cardPath = join(dir, 'card.json');
  const markdownPath = join(dir, 'CARD.md');
  writeFileSync(modelPath, modelBytes);
  writeFileSync(cardPath, `${JSON.stringify(card, null, 2)}\n`);
  writeFileSync(markdownPath, renderCard(card));
  return { dir, modelPath, cardPath, markdownPath, modelBytes: modelBytes.length };
}

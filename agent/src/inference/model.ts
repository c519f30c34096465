/**
 * Loads a model directory (model.onnx + card.json) and checks, before anything runs, that the card is
 * valid, the file is the one the card names (sha256, when given) and the model's input and output
 * match the feature spec: one float32 input of width = number of features, and a numeric output with
 * the score column. Every mismatch is listed in one MODEL_SPEC_MISMATCH error.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PdmError, describeIssues, modelCardSchema, type ModelCard, type ModelRef } from '@pdm/protocol';

export interface LoadedModel {
  readonly card: ModelCard;
  readonly ref: ModelRef;
  readonly session: ort.InferenceSession;
  readonly dir: string;
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const card = readCard(dir);
  const file = join(dir, 'model.onnx');
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new PdmError('MODEL_LOAD_FAILED', `cannot read ${file}`, { cause, context: { file } });
  }
  if (card.sha256 !== undefined) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== card.sha256) {
      throw new PdmError('MODEL_LOAD_FAILED', 'model.onnx does not match the sha256 in its card', {
        context: { file, expected: card.sha256, actual },
      });
    }
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
  } catch (cause) {
    throw new PdmError('MODEL_LOAD_FAILED', `onnxruntime cannot load ${file}`, { cause, context: { file } });
  }
  const problems = specProblems(card, session);
  if (problems.length > 0) {
    await session.release();
    throw new PdmError('MODEL_SPEC_MISMATCH', `${card.name} ${card.version}: ${problems.join('; ')}`, {
      context: { model: card.name, version: card.version, problems },
    });
  }
  return { card, ref: { name: card.name, version: card.version }, session, dir };
}

/**
 * onnxruntime's intra-op threads (one per core, as by default) do not spin-wait for work after a run. A
 * spinning pool keeps a core busy between runs, time the agent's own thread needs for features and
 * records: on the 2-core machines of bench:pipeline spinning doubled the CPU per row of a run and slowed
 * the whole pipeline (issue 9, bench/RESULTS.md). The thread count stays the default, so scores are the
 * same bits as before (a different count splits a tree ensemble's sums differently).
 */
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  extra: { session: { intra_op: { allow_spinning: '0' } } },
};

function readCard(dir: string): ModelCard {
  const file = join(dir, 'card.json');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new PdmError('MODEL_CARD_INVALID', `cannot read ${file} as JSON`, { cause, context: { file } });
  }
  const parsed = modelCardSchema.safeParse(json);
  if (!parsed.success) {
    throw new PdmError('MODEL_CARD_INVALID', `${file}: ${describeIssues(parsed.error)}`, { context: { file } });
  }
  return parsed.data;
}

const NUMERIC_OUTPUTS = new Set(['float32', 'float64', 'float16']);

/** Everything about the session that contradicts the card's feature spec. */
export function specProblems(card: ModelCard, session: ort.InferenceSession): string[] {
  const spec = card.featureSpec;
  const problems: string[] = [];
  const inputs = session.inputMetadata;
  const input = inputs.find((m) => m.name === spec.input.name);
  if (input === undefined) {
    problems.push(`input "${spec.input.name}" not in the model (it has ${quoteAll(session.inputNames)})`);
  } else if (!input.isTensor || input.type !== 'float32') {
    problems.push(`input "${input.name}" must be a float32 tensor`);
  } else if (input.shape.length !== 2) {
    problems.push(`input "${input.name}" must have rank 2 [N, features], has [${input.shape.join(', ')}]`);
  } else if (typeof input.shape[1] === 'number' && input.shape[1] !== spec.features.length) {
    problems.push(`input "${input.name}" has ${input.shape[1]} columns, the spec lists ${spec.features.length} features`);
  }
  const others = inputs.filter((m) => m.name !== spec.input.name).map((m) => m.name);
  if (others.length > 0) problems.push(`model has inputs the spec does not feed: ${quoteAll(others)}`);

  const output = session.outputMetadata.find((m) => m.name === spec.output.name);
  if (output === undefined) {
    problems.push(`output "${spec.output.name}" not in the model (it has ${quoteAll(session.outputNames)})`);
  } else if (!output.isTensor || !NUMERIC_OUTPUTS.has(output.type)) {
    problems.push(`output "${output.name}" must be a floating-point tensor`);
  } else {
    const width = output.shape.length === 1 ? 1 : output.shape[1];
    if (output.shape.length > 2) problems.push(`output "${output.name}" must have rank 1 or 2`);
    else if (typeof width === 'number' && spec.output.column >= width) {
      problems.push(`output column ${spec.output.column} is outside "${output.name}" of width ${width}`);
    }
  }
  return problems;
}

function quoteAll(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(', ') || 'none';
}

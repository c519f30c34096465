/**
 * Checks that an ONNX file meets the contract of its feature spec (models/README.md): it loads in
 * onnxruntime, takes exactly one float32 input named like the spec with shape [N, features], and has
 * a float32 output named like the spec whose second dimension holds the score column. A probe run of
 * two zero rows proves the shapes really work, not only that the declared metadata says so. The
 * probe does not judge the values: a model that scores NaN is a valid file and is caught later by the
 * agent's trial health checks.
 */
import * as ort from 'onnxruntime-node';
import { PdmError, type FeatureSpec } from '@pdm/protocol';
import { openSession } from './runtime.js';

const PROBE_ROWS = 2;

function mismatch(message: string, context: Record<string, unknown> = {}, cause?: unknown): PdmError {
  return new PdmError('MODEL_SPEC_MISMATCH', message, { cause, context });
}

function checkInput(session: ort.InferenceSession, spec: FeatureSpec): void {
  const width = spec.features.length;
  if (session.inputNames.length !== 1) {
    throw mismatch(`model has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); the contract is exactly one float32 input [N, ${width}]`);
  }
  const meta = session.inputMetadata[0];
  if (meta === undefined || meta.name !== spec.input.name) {
    throw mismatch(`model input is named "${session.inputNames[0]}" but the feature spec says "${spec.input.name}"`);
  }
  if (!meta.isTensor || meta.type !== 'float32') {
    throw mismatch(`model input "${meta.name}" is ${meta.isTensor ? meta.type : 'not a tensor'}; the contract is float32`);
  }
  if (meta.shape.length !== 0 && meta.shape.length !== 2) {
    throw mismatch(`model input "${meta.name}" has rank ${meta.shape.length}; the contract is [N, ${width}]`, { shape: meta.shape });
  }
  const declared = meta.shape[1];
  if (typeof declared === 'number' && declared !== width) {
    throw mismatch(`model input "${meta.name}" takes ${declared} features but the feature spec lists ${width}`, { shape: meta.shape });
  }
}

function checkOutputMetadata(session: ort.InferenceSession, spec: FeatureSpec): void {
  const { name, column } = spec.output;
  const meta = session.outputMetadata.find((m) => m.name === name);
  if (meta === undefined) {
    throw mismatch(`model has no output "${name}" (outputs: ${session.outputNames.join(', ')})`);
  }
  if (!meta.isTensor || meta.type !== 'float32') {
    throw mismatch(`model output "${name}" is ${meta.isTensor ? meta.type : 'not a tensor'}; the score output must be float32`);
  }
  const declared = meta.shape.length === 2 ? meta.shape[1] : meta.shape.length === 1 ? 1 : undefined;
  if (typeof declared === 'number' && column >= declared) {
    throw mismatch(`feature spec reads column ${column} of output "${name}", which has ${declared} column(s)`, { shape: meta.shape });
  }
}

async function probe(session: ort.InferenceSession, spec: FeatureSpec): Promise<void> {
  const width = spec.features.length;
  const { name, column } = spec.output;
  let output: ort.Tensor | undefined;
  try {
    const input = new ort.Tensor('float32', new Float32Array(PROBE_ROWS * width), [PROBE_ROWS, width]);
    output = (await session.run({ [spec.input.name]: input }, [name]))[name];
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw mismatch(`model failed on a probe batch [${PROBE_ROWS}, ${width}] built from the feature spec: ${detail}`, {}, cause);
  }
  if (output === undefined || output.type !== 'float32') {
    throw mismatch(`model output "${name}" is ${output?.type ?? 'missing'} on the probe batch; the score output must be float32`);
  }
  const rows = output.dims[0];
  const columns = output.dims.length === 1 ? 1 : output.dims.length === 2 ? output.dims[1]! : undefined;
  if (rows !== PROBE_ROWS || columns === undefined || column >= columns) {
    throw mismatch(
      `model output "${name}" has shape [${output.dims.join(', ')}] for ${PROBE_ROWS} rows; the contract is [N] or [N, k] with column ${column} < k`,
      { dims: output.dims },
    );
  }
}

/** Throws PdmError MODEL_LOAD_FAILED or MODEL_SPEC_MISMATCH with a precise message; resolves when the model fits. */
export async function checkModelAgainstSpec(onnxBytes: Uint8Array, spec: FeatureSpec): Promise<void> {
  const session = await openSession(onnxBytes);
  try {
    checkInput(session, spec);
    checkOutputMetadata(session, spec);
    await probe(session, spec);
  } finally {
    await session.release();
  }
}

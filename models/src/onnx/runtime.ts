/**
 * Runs an ONNX model file with onnxruntime-node the way the agent does: one float32 input [N, F] and
 * the score read from one column of one output.
 */
import * as ort from 'onnxruntime-node';
import { PdmError } from '@pdm/protocol';

export async function openSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new PdmError('MODEL_LOAD_FAILED', `onnxruntime could not load the model: ${detail}`, { cause });
  }
}

export interface ScoreOptions {
  inputName: string;
  outputName: string;
  column: number;
}

/** Scores of all rows of a row-major [rows, width] matrix: output[row * outWidth + column]. */
export async function scoreRows(
  session: ort.InferenceSession,
  x: Float32Array,
  width: number,
  options: ScoreOptions,
): Promise<Float32Array> {
  const rows = x.length / width;
  const input = new ort.Tensor('float32', x, [rows, width]);
  const results = await session.run({ [options.inputName]: input }, [options.outputName]);
  const output = results[options.outputName];
  if (output === undefined) {
    throw new PdmError('INFERENCE_FAILED', `model returned no output named "${options.outputName}"`);
  }
  const outWidth = output.dims.length > 1 ? output.dims[1]! : 1;
  const data = output.data as Float32Array;
  const scores = new Float32Array(rows);
  for (let r = 0; r < rows; r++) scores[r] = data[r * outWidth + options.column]!;
  return scores;
}

/**
 * Runs the model on a batch of feature rows: one float32 [N, F] tensor in feature-spec order, one
 * onnxruntime run, and the score of row i read at output[i * width + column] (feature spec contract).
 * Scores are returned as they come, non-finite ones included: judging them is the caller's job.
 */
import * as ort from 'onnxruntime-node';
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { LoadedModel } from './model.js';

export interface ScoredBatch {
  readonly scores: readonly number[];
  /** Wall-clock time of the run, in ms. */
  readonly latencyMs: number;
}

export class InferenceRunner {
  constructor(private readonly deps: { readonly model: LoadedModel; readonly clock: Clock }) {}

  async score(rows: readonly Float32Array[]): Promise<ScoredBatch> {
    const { model, clock } = this.deps;
    const spec = model.card.featureSpec;
    const width = spec.features.length;
    const data = new Float32Array(rows.length * width);
    rows.forEach((row, i) => data.set(row, i * width));
    const started = clock.monotonic();
    let output: ort.Tensor;
    try {
      const results = await model.session.run({ [spec.input.name]: new ort.Tensor('float32', data, [rows.length, width]) }, [spec.output.name]);
      output = results[spec.output.name]!;
    } catch (cause) {
      throw new PdmError('INFERENCE_FAILED', 'onnxruntime run failed', { cause, context: { rows: rows.length } });
    }
    const latencyMs = clock.monotonic() - started;
    const outWidth = output.dims.length === 1 ? 1 : Number(output.dims[1]);
    const values = output.data as ArrayLike<number>;
    if (output.dims[0] !== rows.length || values.length !== rows.length * outWidth || spec.output.column >= outWidth) {
      throw new PdmError('INFERENCE_FAILED', 'model output has an unexpected shape', {
        context: { dims: output.dims, rows: rows.length, column: spec.output.column },
      });
    }
    const scores = rows.map((_, i) => Number(values[i * outWidth + spec.output.column]));
    return { scores, latencyMs };
  }
}

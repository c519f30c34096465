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

  /** Scores rows given one array each (copied into one tensor). */
  score(rows: readonly Float32Array[]): Promise<ScoredBatch> {
    const width = this.deps.model.card.featureSpec.features.length;
    const data = new Float32Array(rows.length * width);
    rows.forEach((row, i) => data.set(row, i * width));
    return this.scoreBatch(data, rows.length);
  }

  /**
   * Scores the first `rows` rows of `data`, row-major [rows, F], without copying them (the pipeline
   * writes its feature rows there in place). `data` may be longer: the rest is not read.
   */
  async scoreBatch(data: Float32Array, rows: number): Promise<ScoredBatch> {
    const { model, clock } = this.deps;
    const spec = model.card.featureSpec;
    const width = spec.features.length;
    if (data.length < rows * width) {
      throw new PdmError('INFERENCE_FAILED', 'fewer feature values than rows times features', {
        context: { values: data.length, rows, width },
      });
    }
    // onnxruntime-node reads a view at its own offset and length (a subarray needs no copy)
    const input = data.length === rows * width ? data : data.subarray(0, rows * width);
    const started = clock.monotonic();
    let output: ort.Tensor;
    try {
      const results = await model.session.run({ [spec.input.name]: new ort.Tensor('float32', input, [rows, width]) }, [spec.output.name]);
      output = results[spec.output.name]!;
    } catch (cause) {
      throw new PdmError('INFERENCE_FAILED', 'onnxruntime run failed', { cause, context: { rows } });
    }
    const latencyMs = clock.monotonic() - started;
    const outWidth = output.dims.length === 1 ? 1 : Number(output.dims[1]);
    const values = output.data as ArrayLike<number>;
    if (output.dims[0] !== rows || values.length !== rows * outWidth || spec.output.column >= outWidth) {
      throw new PdmError('INFERENCE_FAILED', 'model output has an unexpected shape', {
        context: { dims: output.dims, rows, column: spec.output.column },
      });
    }
    const scores = new Array<number>(rows);
    for (let i = 0; i < rows; i++) scores[i] = Number(values[i * outWidth + spec.output.column]);
    return { scores, latencyMs };
  }
}

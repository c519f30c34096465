/**
 * Exports a logistic regression as a plain ai.onnx graph (no ML domain), at a different IR version and
 * opset than the tree models: Sub(mean) -> Div(scale) -> MatMul(weights) -> Add(bias) -> Sigmoid, with
 * one output `score` of shape [N, 1]. Its feature spec says {name: 'score', column: 0}: the agent reads
 * whatever output and column the spec names.
 */
import type { LogisticModel } from '../linear/logistic.js';
import { ELEM_FLOAT, encodeModel, floatTensor, tensorInfo } from './proto.js';

export const LINEAR_OPSETS = { '': 13 } as const;
export const LINEAR_IR_VERSION = 7;

export function exportLogistic(model: LogisticModel, options: { inputName: string; graphName: string; metadata?: Record<string, string> }): Uint8Array {
  const w = model.width;
  return encodeModel({
    graphName: options.graphName,
    irVersion: LINEAR_IR_VERSION,
    opsets: LINEAR_OPSETS,
    metadata: options.metadata,
    inputs: [tensorInfo(options.inputName, ELEM_FLOAT, ['N', w])],
    outputs: [tensorInfo('score', ELEM_FLOAT, ['N', 1])],
    initializers: [
      floatTensor('mean', [w], model.mean),
      floatTensor('scale', [w], model.scale),
      floatTensor('weights', [w, 1], model.weights),
      floatTensor('bias', [1], [model.bias]),
    ],
    nodes: [
      { opType: 'Sub', name: 'centre', input: [options.inputName, 'mean'], output: ['centred'] },
      { opType: 'Div', name: 'standardise', input: ['centred', 'scale'], output: ['standardised'] },
      { opType: 'MatMul', name: 'weigh', input: ['standardised', 'weights'], output: ['weighted'] },
      { opType: 'Add', name: 'offset', input: ['weighted', 'bias'], output: ['logit'] },
      { opType: 'Sigmoid', name: 'squash', input: ['logit'], output: ['score'] },
    ],
  });
}

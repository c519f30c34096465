/**
 * Turns a TreeEnsembleClassifier model into one that is still a valid ONNX file with the same inputs
 * and outputs, but whose `probabilities` are NaN for every row: the classifier's output is renamed and
 * then added to 0/0 (ai.onnx Div). The rollout tests use it to prove that non-finite scores trip the
 * device's trial health check.
 */
import { PdmError } from '@pdm/protocol';
import { floatTensor, onnx } from './proto.js';

export function withNanProbabilities(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  const nodes = graph?.node ?? [];
  const trees = nodes.find((n) => (n.output ?? []).includes('probabilities'));
  if (graph === null || graph === undefined || trees === undefined) {
    throw new PdmError('INTERNAL', 'model has no node producing "probabilities"');
  }
  trees.output = (trees.output ?? []).map((o) => (o === 'probabilities' ? 'probabilities_finite' : o));
  graph.initializer = [...(graph.initializer ?? []), floatTensor('zero', [1], [0])];
  graph.node = [
    ...nodes,
    { opType: 'Div', name: 'zero_by_zero', input: ['zero', 'zero'], output: ['nan'] },
    { opType: 'Add', name: 'poison', input: ['probabilities_finite', 'nan'], output: ['probabilities'] },
  ];
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Exports a GbdtModel as an `ai.onnx.ml` TreeEnsembleClassifier (binary) or TreeEnsembleRegressor,
 * opset 3, the ops onnxruntime runs at ~300k rows/s (docs/PLATFORM.md).
 *
 * The classifier follows the scikit-learn converter's binary layout: every leaf weight goes to class 0,
 * one base value, post_transform LOGISTIC; onnxruntime then writes `probabilities` = [1-p, p] with
 * p = sigmoid(score). (Weights split as -v/+v over two classes are NOT equivalent: onnxruntime's binary
 * path adds class 0's sum to base_values[1]; a test pins the layout we use, including all-positive leaves.)
 */
import { PdmError } from '@pdm/protocol';
import type { GbdtModel } from '../gbdt/model.js';
import { derivedColumns, derivedNodes, type DerivedFeature } from './derived.js';
import { attr, ELEM_FLOAT, ELEM_INT64, encodeModel, ML_DOMAIN, tensorInfo, type AttributeInput } from './proto.js';

export interface TreeExportOptions {
  inputName: string;
  /** Columns the graph derives from the input before the trees (the model's width includes them). */
  derived?: readonly DerivedFeature[];
  graphName: string;
  docString?: string;
  metadata?: Record<string, string>;
}

export const TREE_OPSETS = { '': 17, [ML_DOMAIN]: 3 } as const;

function preprocess(model: GbdtModel, options: TreeExportOptions) {
  const derived = options.derived ?? [];
  const inputWidth = model.width - derivedColumns(derived).length;
  if (derived.length === 0) return { inputWidth, nodes: [], initializers: [], treeInput: options.inputName };
  const graph = derivedNodes(options.inputName, inputWidth, derived);
  return { inputWidth, nodes: graph.nodes, initializers: graph.initializers, treeInput: graph.output };
}

interface Flattened {
  nodeAttrs: AttributeInput[];
  leaves: { tree: number; node: number; value: number }[];
}

function flattenTrees(model: GbdtModel): Flattened {
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const featureIds: number[] = [];
  const values: number[] = [];
  const modes: string[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  const leaves: Flattened['leaves'] = [];
  model.trees.forEach((tree, t) => {
    tree.feature.forEach((feature, n) => {
      const leaf = feature < 0;
      treeIds.push(t);
      nodeIds.push(n);
      featureIds.push(leaf ? 0 : feature);
      values.push(leaf ? 0 : tree.threshold[n]!);
      modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ');
      trueIds.push(leaf ? 0 : tree.left[n]!);
      falseIds.push(leaf ? 0 : tree.right[n]!);
      if (leaf) leaves.push({ tree: t, node: n, value: tree.value[n]! });
    });
  });
  const nodeAttrs = [
    attr.ints('nodes_treeids', treeIds),
    attr.ints('nodes_nodeids', nodeIds),
    attr.ints('nodes_featureids', featureIds),
    attr.floats('nodes_values', values),
    attr.strings('nodes_modes', modes),
    attr.ints('nodes_truenodeids', trueIds),
    attr.ints('nodes_falsenodeids', falseIds),
  ];
  return { nodeAttrs, leaves };
}

export function exportTreeClassifier(model: GbdtModel, options: TreeExportOptions): Uint8Array {
  if (model.objective !== 'binary-logistic') {
    throw new PdmError('INTERNAL', `a TreeEnsembleClassifier needs a binary-logistic model, got ${model.objective}`);
  }
  const { nodeAttrs, leaves } = flattenTrees(model);
  const classAttrs = [
    attr.ints('class_treeids', leaves.map((l) => l.tree)),
    attr.ints('class_nodeids', leaves.map((l) => l.node)),
    attr.ints('class_ids', leaves.map(() => 0)),
    attr.floats('class_weights', leaves.map((l) => l.value)),
    attr.ints('classlabels_int64s', [0, 1]),
    attr.floats('base_values', [model.baseScore]),
    attr.string('post_transform', 'LOGISTIC'),
  ];
  const pre = preprocess(model, options);
  return encodeModel({
    graphName: options.graphName,
    docString: options.docString,
    metadata: options.metadata,
    opsets: TREE_OPSETS,
    inputs: [tensorInfo(options.inputName, ELEM_FLOAT, ['N', pre.inputWidth])],
    outputs: [tensorInfo('label', ELEM_INT64, ['N']), tensorInfo('probabilities', ELEM_FLOAT, ['N', 2])],
    initializers: pre.initializers,
    nodes: [...pre.nodes, {
      opType: 'TreeEnsembleClassifier',
      domain: ML_DOMAIN,
      name: 'trees',
      input: [pre.treeInput],
      output: ['label', 'probabilities'],
      attribute: [...nodeAttrs, ...classAttrs],
    }],
  });
}

/** Regressor output: `prediction`, float [N, 1]. */
export function exportTreeRegressor(model: GbdtModel, options: TreeExportOptions): Uint8Array {
  if (model.objective !== 'squared-error') {
    throw new PdmError('INTERNAL', `a TreeEnsembleRegressor needs a squared-error model, got ${model.objective}`);
  }
  const { nodeAttrs, leaves } = flattenTrees(model);
  const targetAttrs = [
    attr.int('n_targets', 1),
    attr.ints('target_treeids', leaves.map((l) => l.tree)),
    attr.ints('target_nodeids', leaves.map((l) => l.node)),
    attr.ints('target_ids', leaves.map(() => 0)),
    attr.floats('target_weights', leaves.map((l) => l.value)),
    attr.floats('base_values', [model.baseScore]),
    attr.string('aggregate_function', 'SUM'),
    attr.string('post_transform', 'NONE'),
  ];
  const pre = preprocess(model, options);
  return encodeModel({
    graphName: options.graphName,
    docString: options.docString,
    metadata: options.metadata,
    opsets: TREE_OPSETS,
    inputs: [tensorInfo(options.inputName, ELEM_FLOAT, ['N', pre.inputWidth])],
    outputs: [tensorInfo('prediction', ELEM_FLOAT, ['N', 1])],
    initializers: pre.initializers,
    nodes: [...pre.nodes, {
      opType: 'TreeEnsembleRegressor',
      domain: ML_DOMAIN,
      name: 'trees',
      input: [pre.treeInput],
      output: ['prediction'],
      attribute: [...nodeAttrs, ...targetAttrs],
    }],
  });
}

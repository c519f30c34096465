/**
 * A trained gradient-boosted tree ensemble and how it scores a row. Thresholds and leaf values are
 * float32 numbers, and a row goes left when `x <= threshold`, the same test as the exported ONNX
 * TreeEnsemble (BRANCH_LEQ), so in-process scores and onnxruntime scores agree.
 */

/** A tree as flat arrays; node 0 is the root; a leaf has feature -1. */
export interface Tree {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  /** Leaf output (already multiplied by the learning rate); 0 for inner nodes. */
  value: number[];
}

export type Objective = 'binary-logistic' | 'squared-error';

export interface GbdtModel {
  objective: Objective;
  width: number;
  /** Raw score before any tree: log-odds of the base rate, or the target mean. */
  baseScore: number;
  trees: Tree[];
}

export function treeLeaf(tree: Tree, row: ArrayLike<number>, offset = 0): number {
  let node = 0;
  while (tree.feature[node]! >= 0) {
    node = row[offset + tree.feature[node]!]! <= tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
  }
  return node;
}

/** The raw (margin) score of one row starting at `offset` in a row-major matrix. */
export function rawScore(model: GbdtModel, x: ArrayLike<number>, offset = 0): number {
  let score = model.baseScore;
  for (const tree of model.trees) score += tree.value[treeLeaf(tree, x, offset)]!;
  return score;
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** Scores of every row: probabilities of class 1 for binary-logistic, predictions for squared-error. */
export function predict(model: GbdtModel, x: Float32Array): Float64Array {
  const rows = x.length / model.width;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const raw = rawScore(model, x, r * model.width);
    out[r] = model.objective === 'binary-logistic' ? sigmoid(raw) : raw;
  }
  return out;
}

/** How often each feature is used for a split, a cheap importance measure for the card. */
export function splitCounts(model: GbdtModel): number[] {
  const counts = new Array<number>(model.width).fill(0);
  for (const tree of model.trees) for (const f of tree.feature) if (f >= 0) counts[f]! += 1;
  return counts;
}

/**
 * Gradient-boosted trees, second-order (Newton) boosting as in XGBoost/LightGBM: per round, gradients
 * and hessians of the loss at the current scores; trees grown depth-first to `maxDepth` with histogram
 * split finding over quantile bins; leaf value -G/(H+lambda) times the learning rate. Row and feature
 * subsampling draw from one seeded generator, and every tie is broken by order, so the same data and
 * params give the same model bit for bit.
 */
import { z } from 'zod';
import { PdmError } from '@pdm/protocol';
import { fitBins, MAX_BINS, type BinnedFeatures } from './binning.js';
import { sigmoid, type GbdtModel, type Tree } from './model.js';
import { seededRandom } from './random.js';

export const gbdtParamsSchema = z.strictObject({
  objective: z.enum(['binary-logistic', 'squared-error']),
  trees: z.number().int().min(1).max(5000).default(100),
  maxDepth: z.number().int().min(1).max(12).default(4),
  learningRate: z.number().positive().max(1).default(0.1),
  maxBins: z.number().int().min(2).max(MAX_BINS).default(128),
  /** L2 penalty on leaf values. */
  lambda: z.number().min(0).default(1),
  /** Minimum hessian sum in each child (XGBoost's min_child_weight). */
  minChildWeight: z.number().min(0).default(1),
  minSamplesLeaf: z.number().int().min(1).default(20),
  /** Fraction of rows drawn (without replacement, Bernoulli) for each tree. */
  subsample: z.number().gt(0).max(1).default(1),
  /** Fraction of features offered to each tree. */
  colsample: z.number().gt(0).max(1).default(1),
  /** Weight of class-1 rows relative to class-0 rows (binary only). */
  positiveWeight: z.number().positive().default(1),
  seed: z.number().int().default(42),
});
export type GbdtParams = z.output<typeof gbdtParamsSchema>;
export type GbdtParamsInput = z.input<typeof gbdtParamsSchema>;

interface Split {
  feature: number;
  bin: number;
  gain: number;
}

interface Grower {
  data: BinnedFeatures;
  params: GbdtParams;
  grad: Float64Array;
  hess: Float64Array;
  features: number[];
  histG: Float64Array;
  histH: Float64Array;
  histC: Int32Array;
}

export function trainGbdt(x: Float32Array, y: ArrayLike<number>, paramsInput: GbdtParamsInput): GbdtModel {
  const params = gbdtParamsSchema.parse(paramsInput);
  const rows = y.length;
  if (rows === 0 || x.length % rows !== 0) {
    throw new PdmError('INTERNAL', `training matrix of ${x.length} values does not hold ${rows} rows`);
  }
  const width = x.length / rows;
  const data = fitBins(x, rows, width, params.maxBins);
  const weight = sampleWeights(y, params);
  const baseScore = Math.fround(initialScore(y, weight, params.objective));
  const score = new Float64Array(rows).fill(baseScore);
  const random = seededRandom(params.seed);
  const grower: Grower = {
    data, params, grad: new Float64Array(rows), hess: new Float64Array(rows), features: [],
    histG: new Float64Array(MAX_BINS), histH: new Float64Array(MAX_BINS), histC: new Int32Array(MAX_BINS),
  };
  const trees: Tree[] = [];
  for (let t = 0; t < params.trees; t++) {
    computeGradients(grower, y, score, weight);
    grower.features = drawFeatures(width, params.colsample, random);
    const sample = drawRows(rows, params.subsample, random);
    const tree: Tree = { feature: [], threshold: [], left: [], right: [], value: [] };
    const splitBins: number[] = [];
    growNode(grower, sample, 0, tree, splitBins);
    for (let r = 0; r < rows; r++) score[r]! += tree.value[binnedLeaf(tree, splitBins, data, r)]!;
    trees.push(tree);
  }
  return { objective: params.objective, width, baseScore, trees };
}

function sampleWeights(y: ArrayLike<number>, params: GbdtParams): Float64Array {
  const w = new Float64Array(y.length).fill(1);
  if (params.objective === 'binary-logistic') {
    for (let r = 0; r < y.length; r++) {
      if (y[r] !== 0 && y[r] !== 1) throw new PdmError('INTERNAL', `binary label of row ${r} is ${y[r]}, not 0 or 1`);
      if (y[r] === 1) w[r] = params.positiveWeight;
    }
  }
  return w;
}

function initialScore(y: ArrayLike<number>, w: Float64Array, objective: GbdtParams['objective']): number {
  let sw = 0;
  let swy = 0;
  for (let r = 0; r < y.length; r++) {
    sw += w[r]!;
    swy += w[r]! * y[r]!;
  }
  if (objective === 'squared-error') return swy / sw;
  const p = Math.min(Math.max(swy / sw, 1e-6), 1 - 1e-6);
  return Math.log(p / (1 - p));
}

function computeGradients(g: Grower, y: ArrayLike<number>, score: Float64Array, w: Float64Array): void {
  for (let r = 0; r < y.length; r++) {
    if (g.params.objective === 'binary-logistic') {
      const p = sigmoid(score[r]!);
      g.grad[r] = w[r]! * (p - y[r]!);
      g.hess[r] = w[r]! * Math.max(p * (1 - p), 1e-12);
    } else {
      g.grad[r] = w[r]! * (score[r]! - y[r]!);
      g.hess[r] = w[r]!;
    }
  }
}

function drawFeatures(width: number, fraction: number, random: () => number): number[] {
  const all = Array.from({ length: width }, (_, f) => f);
  const count = Math.max(1, Math.round(width * fraction));
  if (count >= width) return all;
  // Partial Fisher-Yates, then sorted so that ties between features break the same way every time.
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (width - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, count).sort((a, b) => a - b);
}

function drawRows(rows: number, fraction: number, random: () => number): Uint32Array {
  if (fraction >= 1) return Uint32Array.from({ length: rows }, (_, r) => r);
  const picked: number[] = [];
  for (let r = 0; r < rows; r++) if (random() < fraction) picked.push(r);
  return Uint32Array.from(picked);
}

/** Appends the subtree for `rows` to `tree` and returns its root's node index. */
function growNode(g: Grower, rows: Uint32Array, depth: number, tree: Tree, splitBins: number[]): number {
  let sumG = 0;
  let sumH = 0;
  for (const r of rows) {
    sumG += g.grad[r]!;
    sumH += g.hess[r]!;
  }
  const node = tree.feature.length;
  const split = depth < g.params.maxDepth ? bestSplit(g, rows, sumG, sumH) : undefined;
  if (split === undefined) {
    const value = rows.length === 0 ? 0 : (-sumG / (sumH + g.params.lambda)) * g.params.learningRate;
    pushNode(tree, splitBins, -1, 0, Math.fround(value), -1);
    return node;
  }
  const bins = g.data.bins[split.feature]!;
  const leftRows = rows.filter((r) => bins[r]! <= split.bin);
  const rightRows = rows.filter((r) => bins[r]! > split.bin);
  pushNode(tree, splitBins, split.feature, g.data.edges[split.feature]![split.bin]!, 0, split.bin);
  tree.left[node] = growNode(g, leftRows, depth + 1, tree, splitBins);
  tree.right[node] = growNode(g, rightRows, depth + 1, tree, splitBins);
  return node;
}

function pushNode(tree: Tree, splitBins: number[], feature: number, threshold: number, value: number, bin: number): void {
  tree.feature.push(feature);
  tree.threshold.push(threshold);
  tree.left.push(-1);
  tree.right.push(-1);
  tree.value.push(value);
  splitBins.push(bin);
}

function bestSplit(g: Grower, rows: Uint32Array, sumG: number, sumH: number): Split | undefined {
  const { lambda, minChildWeight, minSamplesLeaf } = g.params;
  if (rows.length < 2 * minSamplesLeaf) return undefined;
  const parentScore = (sumG * sumG) / (sumH + lambda);
  let best: Split | undefined;
  for (const f of g.features) {
    const nBins = g.data.edges[f]!.length + 1;
    if (nBins < 2) continue;
    fillHistogram(g, rows, f, nBins);
    let gl = 0;
    let hl = 0;
    let cl = 0;
    for (let b = 0; b < nBins - 1; b++) {
      gl += g.histG[b]!;
      hl += g.histH[b]!;
      cl += g.histC[b]!;
      const cr = rows.length - cl;
      const hr = sumH - hl;
      if (cl < minSamplesLeaf || cr < minSamplesLeaf || hl < minChildWeight || hr < minChildWeight) continue;
      const gr = sumG - gl;
      const gain = (gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parentScore;
      // Strictly greater: the first (lowest feature, lowest bin) of equal splits wins, deterministically.
      if (gain > 1e-12 && (best === undefined || gain > best.gain)) best = { feature: f, bin: b, gain };
    }
  }
  return best;
}

function fillHistogram(g: Grower, rows: Uint32Array, feature: number, nBins: number): void {
  g.histG.fill(0, 0, nBins);
  g.histH.fill(0, 0, nBins);
  g.histC.fill(0, 0, nBins);
  const bins = g.data.bins[feature]!;
  for (const r of rows) {
    const b = bins[r]!;
    g.histG[b]! += g.grad[r]!;
    g.histH[b]! += g.hess[r]!;
    g.histC[b]! += 1;
  }
}

function binnedLeaf(tree: Tree, splitBins: number[], data: BinnedFeatures, row: number): number {
  let node = 0;
  while (tree.feature[node]! >= 0) {
    node = data.bins[tree.feature[node]!]![row]! <= splitBins[node]! ? tree.left[node]! : tree.right[node]!;
  }
  return node;
}

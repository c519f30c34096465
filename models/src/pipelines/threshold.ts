/**
 * Threshold choice on out-of-fold scores of the training data only: the held-out data never
 * influences the threshold. Fold assignment is the caller's: whole assets for time series (a row never
 * shares an asset, and its autocorrelated neighbours, with the rows its model was trained on),
 * stratified random folds for independent rows.
 */
import { PdmError } from '@pdm/protocol';
import { f1, precision, recall, thresholdSweep } from '../eval/metrics.js';
import { predict } from '../gbdt/model.js';
import { seededRandom } from '../gbdt/random.js';
import { trainGbdt, type GbdtParamsInput } from '../gbdt/train.js';
import { selectRows, type FeatureRows } from '../features.js';

/** Fold of every row: whole assets, assigned round-robin in asset-id order. */
export function assetFolds(data: FeatureRows, folds: number): Uint8Array {
  const assets = [...new Set(data.assetIds)].sort((a, b) => a - b);
  if (assets.length < folds) {
    throw new PdmError('INTERNAL', `${folds} folds need at least ${folds} assets, got ${assets.length}`);
  }
  const foldOf = new Map(assets.map((a, i) => [a, i % folds]));
  return Uint8Array.from(data.assetIds, (a) => foldOf.get(a)!);
}

/**
 * Fold of every row: each stratum (a class, or a finer key such as class + failure mode) shuffled
 * (seeded) and dealt round-robin, so every fold keeps the strata's shares.
 */
export function stratifiedFolds(strata: ArrayLike<number | string>, folds: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const fold = new Uint8Array(strata.length);
  for (const stratum of new Set(Array.from(strata))) {
    const rows = Array.from({ length: strata.length }, (_, i) => i).filter((i) => strata[i] === stratum);
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    rows.forEach((row, k) => {
      fold[row] = k % folds;
    });
  }
  return fold;
}

/** Trains on (x, y) and returns scores for the rows of `valid`. */
export type FitPredict = (train: FeatureRows, trainY: Float64Array, valid: FeatureRows) => ArrayLike<number>;

export function gbdtFitPredict(params: GbdtParamsInput): FitPredict {
  return (train, trainY, valid) => predict(trainGbdt(train.x, trainY, params), valid.x);
}

/** Out-of-fold scores: each fold is scored by a model trained on the other folds. */
export function outOfFoldScores(data: FeatureRows, y: ArrayLike<number>, fold: Uint8Array, fitPredict: FitPredict): Float64Array {
  const folds = Math.max(...fold) + 1;
  const scores = new Float64Array(data.rows);
  for (let k = 0; k < folds; k++) {
    const inFold = (i: number): boolean => fold[i] === k;
    const trainY = Float64Array.from(Array.from(y).filter((_, i) => !inFold(i)));
    const validRows = [...Array(data.rows).keys()].filter(inFold);
    const validScores = fitPredict(selectRows(data, (i) => !inFold(i)), trainY, selectRows(data, inFold));
    validRows.forEach((row, j) => {
      scores[row] = validScores[j]!;
    });
  }
  return scores;
}

/** The score threshold with the best F1 on (scores, labels); ties go to the higher threshold. */
export function bestF1Threshold(scores: ArrayLike<number>, labels: ArrayLike<number>): { threshold: number; f1: number } {
  let best = { threshold: 0.5, f1: -1 };
  for (const { threshold, c } of thresholdSweep(scores, labels)) {
    const value = f1(c);
    if (value > best.f1) best = { threshold, f1: value };
  }
  return best;
}

/**
 * The score threshold with the best recall among those whose precision is at least `minPrecision`
 * (ties go to the higher threshold); the best-F1 threshold when no threshold reaches that precision.
 */
export function bestRecallThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, minPrecision: number): { threshold: number; f1: number } {
  let best: { threshold: number; recall: number; f1: number } | undefined;
  for (const { threshold, c } of thresholdSweep(scores, labels)) {
    if (precision(c) < minPrecision) continue;
    if (best === undefined || recall(c) > best.recall || (recall(c) === best.recall && threshold > best.threshold)) {
      best = { threshold, recall: recall(c), f1: f1(c) };
    }
  }
  return best ?? bestF1Threshold(scores, labels);
}

/** Floors a threshold to 4 decimals: a readable number that still alerts on every row it was chosen for. */
export function readableThreshold(threshold: number): number {
  return Math.floor(threshold * 1e4) / 1e4;
}

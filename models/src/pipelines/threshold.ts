/**
 * Threshold choice on out-of-fold scores from the training period only: the held-out period never
 * influences the threshold. Folds group whole assets, so a validation row never shares an asset (and
 * its autocorrelated neighbours) with the rows its model was trained on.
 */
import { PdmError } from '@pdm/protocol';
import { f1, thresholdSweep } from '../eval/metrics.js';
import { predict } from '../gbdt/model.js';
import { trainGbdt, type GbdtParamsInput } from '../gbdt/train.js';
import { selectRows, type FeatureRows } from '../features.js';

/** Out-of-fold probabilities: each asset group is scored by a model trained on the other groups. */
export function outOfFoldScores(data: FeatureRows, y: Uint8Array, params: GbdtParamsInput, folds: number): Float64Array {
  const assets = [...new Set(data.assetIds)].sort((a, b) => a - b);
  if (assets.length < folds) {
    throw new PdmError('INTERNAL', `${folds} folds need at least ${folds} assets, got ${assets.length}`);
  }
  const foldOf = new Map(assets.map((a, i) => [a, i % folds]));
  const scores = new Float64Array(data.rows);
  for (let k = 0; k < folds; k++) {
    const inFold = (i: number): boolean => foldOf.get(data.assetIds[i]!) === k;
    const train = selectRows(data, (i) => !inFold(i));
    const trainY = Uint8Array.from(y.filter((_, i) => !inFold(i)));
    const model = trainGbdt(train.x, trainY, params);
    const validRows = [...Array(data.rows).keys()].filter(inFold);
    const valid = selectRows(data, inFold);
    predict(model, valid.x).forEach((p, j) => {
      scores[validRows[j]!] = p;
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

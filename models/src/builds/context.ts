/** What every model build gets: where the data and artifacts live, a progress sink and a clock. */
import type { ModelCard } from '@pdm/protocol';
import type { WrittenArtifact } from '../card/card.js';

export interface BuildContext {
  /** models/data */
  dataDir: string;
  /** models/artifacts */
  artifactsDir: string;
  progress: (step: string, detail?: Record<string, unknown>) => void;
  now: () => Date;
}

export interface BuildResult {
  card: ModelCard;
  artifact: WrittenArtifact;
  seconds: number;
}

/** Largest |a - b| over two score arrays; builds refuse to write a model whose ONNX scores drift. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

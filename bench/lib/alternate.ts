/**
 * A/B of one pipeline replay with and without a feature, for the agent's micro-benches (window-tail-cost,
 * drift-state-cost): the two sides back to back in alternating order, so the shared machine's drift hits
 * both alike; the figure is the median of the per-run ratios.
 */
import { median } from '../results.js';

export interface Alternated {
  /** us per row, median of the runs without / with the feature */
  readonly without: string;
  readonly with: string;
  readonly medianRatio: string;
  readonly ratioRange: [string, string];
}

/** Runs `replay(false)` and `replay(true)` `runs` times each, alternating which goes first; `replay` gives us per row. */
export async function alternate(runs: number, replay: (withIt: boolean) => Promise<number>): Promise<Alternated> {
  const off: number[] = [];
  const on: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < runs; i++) {
    const first = i % 2 === 0;
    const a = await replay(!first);
    const b = await replay(first);
    const [without, withIt] = first ? [a, b] : [b, a];
    off.push(without);
    on.push(withIt);
    ratios.push(withIt / without);
  }
  return {
    without: median(off).toFixed(2), with: median(on).toFixed(2), medianRatio: median(ratios).toFixed(3),
    ratioRange: [Math.min(...ratios).toFixed(2), Math.max(...ratios).toFixed(2)],
  };
}

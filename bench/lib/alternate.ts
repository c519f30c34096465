/**
 * A/B of one pipeline replay with and without a feature, for the agent's micro-benches (window-tail-cost,
 * drift-state-cost): the two sides back to back in alternating order, so the shared machine's drift hits
 * both alike; the figure is the median of the per-run ratios. `replayPipeline` is the replay both time.
 */
import { pino } from 'pino';
import { systemClock } from '../../agent/dist/clock.js';
import type { LoadedModel } from '../../agent/dist/inference/model.js';
import { fixedScoring, scorerFor } from '../../agent/dist/inference/slots.js';
import { Counters } from '../../agent/dist/metrics/counters.js';
import { MetricWindows } from '../../agent/dist/metrics/metric-windows.js';
import { MemoryOutbox } from '../../agent/dist/outbox/memory-outbox.js';
import { Pipeline, type PipelineDeps } from '../../agent/dist/pipeline.js';
import type { RawReading } from '../../agent/dist/sources/source.js';
import { median } from '../results.js';

const silent = pino({ level: 'silent' });
const HOUR_MS = 3_600_000;

export interface Alternated {
  /** us per row, median of the runs without / with the feature */
  readonly without: string;
  readonly with: string;
  readonly medianRatio: string;
  readonly ratioRange: [string, string];
}

/**
 * Runs `replay(false)` and `replay(true)` once each untimed (warm-up, then `afterWarmUp`), then `runs` times each,
 * alternating which goes first; `replay` gives us per row.
 */
export async function alternate(runs: number, replay: (withIt: boolean) => Promise<number>, afterWarmUp?: () => void): Promise<Alternated> {
  await replay(false);
  await replay(true);
  afterWarmUp?.();
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

/** What a replay's pipeline gets besides the fixed parts: the feature-window snapshot, a quality monitor, ... */
export type Extras = (assetId: string, outbox: MemoryOutbox) => Partial<Pick<PipelineDeps, 'tail' | 'quality' | 'openWindows'>>;

/**
 * us per scored row of one replay of each asset's readings through the agent's pipeline (azure-style 1 h metric
 * windows, batch 64, an in-memory outbox), with what `extras` adds.
 */
export async function replayPipeline(model: LoadedModel, assets: readonly RawReading[][], extras: Extras): Promise<number> {
  let rows = 0;
  const t0 = performance.now();
  for (const [i, list] of assets.entries()) {
    const assetId = `asset-${i + 1}`;
    const counters = new Counters();
    const outbox = new MemoryOutbox({ deviceId: 'bench', clock: systemClock });
    outbox.start();
    const p = new Pipeline({
      config: { assetId, maxBatchRows: 64, windowMs: HOUR_MS },
      scoring: fixedScoring(scorerFor(model, systemClock, { cooldownMs: 6 * HOUR_MS, criticalMargin: 0.5 })),
      windows: new MetricWindows({ windowMs: HOUR_MS, assetId, model: model.ref }),
      counters, outbox, log: silent,
      ...extras(assetId, outbox),
    });
    for (const r of list) await p.reading(r);
    await p.finish(true);
    rows += counters.inferences;
  }
  return ((performance.now() - t0) * 1000) / rows;
}

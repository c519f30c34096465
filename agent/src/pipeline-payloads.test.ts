/**
 * The outbox payloads of a real replay, byte for byte (issue 9). The agent's own records are encoded
 * without a schema pass (outbox/agent-records.ts); these hashes were taken with every record going
 * through zod and JSON.stringify (commit 4164e86), so a change in any byte, key order or number format
 * of what the agent publishes fails here. Azure PdM machines 1-2, the first 1,000 hours each, with bad
 * readings and the machines' failures, at batch 1 and 64, 1 h and 24 h metric windows, alone, with a
 * shadow candidate and in act mode.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePayload } from '@pdm/protocol';
import type { Clock } from './clock.js';
import type { ActionSink } from './actions/http-action.js';
import { loadModel, type LoadedModel } from './inference/model.js';
import { scorerFor, type ScoringSet } from './inference/slots.js';
import { Counters } from './metrics/counters.js';
import { MetricWindows } from './metrics/metric-windows.js';
import { MemoryOutbox } from './outbox/memory-outbox.js';
import { Pipeline } from './pipeline.js';
import type { RawReading, SourceEvent } from './sources/source.js';
import { parseEventTime } from './sources/time.js';
import { azureTelemetry } from './testing/azure-telemetry.js';
import { silentLogger } from './testing/logger.js';

const HOUR = 3_600_000;
const HOURS_PER_MACHINE = 1000;
const data = (file: string): string => readFileSync(new URL(`../../models/data/azure-pdm/${file}`, import.meta.url), 'utf8');
const artifact = (name: string): string => new URL(`../../models/artifacts/${name}/1.0.0/`, import.meta.url).pathname;

/** Machines 1-2 as the replay source hands them over: CSV strings, in time order. */
function machines(signals: readonly string[]): Map<string, RawReading[]> {
  return azureTelemetry(signals, { machines: ['1', '2'], hoursPerMachine: HOURS_PER_MACHINE });
}

function failures(machine: string): SourceEvent[] {
  return data('PdM_failures.csv').trim().split('\n').slice(1).map((l) => l.split(','))
    .filter((cells) => cells[1] === machine)
    .map((cells) => ({ time: parseEventTime(cells[0]!)!, type: 'failure', component: JSON.parse(cells[2]!) as string, source: 'replay' }));
}

/** Latencies in the metric windows come from the clock: a fixed step makes them repeatable. */
function steppingClock(): Clock {
  let tick = 0;
  return { now: () => 1_700_000_000_000, monotonic: () => (tick += 0.25), sleep: async () => undefined };
}

const actions: ActionSink = { decide: (score) => (score > 0.9 ? 'triggered' : 'review'), trigger: () => undefined };
type Variant = 'plain' | 'shadow' | 'act';

let active: LoadedModel;
let candidate: LoadedModel;
let readings: Map<string, RawReading[]>;
beforeAll(async () => {
  active = await loadModel(artifact('azure-pdm-failure-24h'));
  candidate = await loadModel(artifact('azure-pdm-failure-24h-linear'));
  readings = machines(active.card.featureSpec.signals.map((s) => s.name));
});
afterAll(async () => {
  await active.session.release();
  await candidate.session.release();
});

/** sha256 over every payload the replay committed, in seq order, and how many of each kind there were. */
async function replay(batch: number, windowHours: number, variant: Variant): Promise<string> {
  const clock = steppingClock();
  const hash = createHash('sha256');
  const kinds = new Map<string, number>();
  for (const [id, list] of readings) {
    const assetId = `machine-${id}`;
    const outbox = new MemoryOutbox({ deviceId: 'edge-golden', clock });
    outbox.start();
    const policy = { cooldownMs: 6 * HOUR, criticalMargin: 0.5 };
    const activeScorer = scorerFor(active, clock, policy, variant === 'act' ? { deploymentId: 'dep-1', release: 1, mode: 'act' } : undefined);
    const set: ScoringSet = variant === 'shadow'
      ? { generation: 0, active: activeScorer, shadow: scorerFor(candidate, clock, policy, { deploymentId: 'dep-2', release: 2, mode: 'shadow' }) }
      : { generation: 0, active: activeScorer };
    const windowMs = windowHours * HOUR;
    const pipeline = new Pipeline({
      config: { assetId, maxBatchRows: batch, windowMs },
      scoring: { current: () => set, adopted: () => undefined },
      windows: new MetricWindows({ windowMs, assetId, model: active.ref }),
      counters: new Counters(), outbox, log: silentLogger,
      ...(variant === 'act' ? { actions } : {}),
    });
    const events = failures(id);
    let e = 0;
    for (const [i, r] of list.entries()) {
      while (e < events.length && events[e]!.time <= r.time) await pipeline.event(events[e++]!);
      // a few bad readings, so that the windows count rejections
      if (i % 97 === 5) await pipeline.reading({ time: r.time, values: { ...r.values, volt: 'abc' } });
      else if (i % 89 === 7) await pipeline.reading({ time: r.time, values: { ...r.values, rotate: '' } });
      else await pipeline.reading(r);
      if (i % 50 === 0) await pipeline.idle();
    }
    await pipeline.finish(true);
    for (const entry of outbox.pending({ afterSeq: 0, limit: Number.MAX_SAFE_INTEGER })) {
      // every payload passes its schema on the controller's side, deviceId checked against the topic's
      decodePayload(entry.kind, entry.payload, 'edge-golden');
      hash.update(entry.payload).update('\n');
      kinds.set(entry.kind, (kinds.get(entry.kind) ?? 0) + 1);
    }
  }
  return `${[...kinds].sort().map(([kind, n]) => `${n} ${kind}`).join(', ')}: ${hash.digest('hex')}`;
}

const golden: Record<string, string> = {
  "batch 1, 1 h windows, plain": "8 alerts, 1 events, 2000 metrics, 1908 predictions: 5ed6da7de279c087b7285c5cd760c310032cc15bf14b5f34304719de0e97467c",
  "batch 1, 1 h windows, shadow": "8 alerts, 1908 comparisons, 1 events, 2000 metrics, 3816 predictions: e3a72dca94b65fc033e989a9d0cfce1e85e2b202bc44d88bdf0fd58ed8835aaa",
  "batch 1, 1 h windows, act": "8 alerts, 1 events, 2000 metrics, 1908 predictions: 2eaf1cb031a54865599b95e248e4e9663ca08fe018b773ed8ffafe12d4fdcf2a",
  "batch 1, 24 h windows, plain": "8 alerts, 1 events, 84 metrics, 1908 predictions: c19869e1326f047d112a3829f6d919b7433213307ad17a79e8d3fe662e372229",
  "batch 1, 24 h windows, shadow": "8 alerts, 82 comparisons, 1 events, 84 metrics, 3816 predictions: bf1ada0a0c8c2befb70fd1210f44dfad73369f06ce1c66d7d9d4e2f0859befbf",
  "batch 1, 24 h windows, act": "8 alerts, 1 events, 84 metrics, 1908 predictions: 7b7d2478d5b5b02dddf8ea483e372054a5fde01f9e02a383d4ed5f9af2e10b2f",
  "batch 64, 1 h windows, plain": "8 alerts, 1 events, 2000 metrics, 41 predictions: bc1f4622980c2c2d6390f6f0264c833d918f252b7f6d1e05d4e26c2e693bc64f",
  "batch 64, 1 h windows, shadow": "8 alerts, 1908 comparisons, 1 events, 2000 metrics, 82 predictions: f417ff4d46a32d57c96b6ec277bd40de701f63e4dc6fd32745a8ac97eb21c883",
  "batch 64, 1 h windows, act": "8 alerts, 1 events, 2000 metrics, 41 predictions: 55e3398ee2e2f5ac6b5a6b6b1aa4168f3a81bf702eac28ed53499adbec717238",
  "batch 64, 24 h windows, plain": "8 alerts, 1 events, 84 metrics, 41 predictions: 12eef5e3d177816715a7a3b7830707871e904fa2a39297e14c855d99f6c8f3fc",
  "batch 64, 24 h windows, shadow": "8 alerts, 82 comparisons, 1 events, 84 metrics, 82 predictions: 3d35a034539f10afaa26240e70be95d0a977f70f78fd05c4437c86a227acf757",
  "batch 64, 24 h windows, act": "8 alerts, 1 events, 84 metrics, 41 predictions: aa26a96a6d51c5c6cad2e7f96408559560a43632c06e61df98ff7aa734451f25",
};

describe('Pipeline: outbox payloads of a replay', () => {
  for (const batch of [1, 64]) {
    for (const windowHours of [1, 24]) {
      for (const variant of ['plain', 'shadow', 'act'] as const) {
        const key = `batch ${batch}, ${windowHours} h windows, ${variant}`;
        it(`are byte-identical to the schema-validated encoding: ${key}`, async () => {
          expect(await replay(batch, windowHours, variant)).toBe(golden[key]);
        });
      }
    }
  }
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkReading, FeatureWindows, LogSignals, modelCardSchema } from '@pdm/protocol';
import { loadAzureData, loadAzureLogs } from '../data/azure-pdm.js';
import { ARTIFACTS_DIR, DATA_DIR } from '../paths.js';
import { AZURE_LOG_SIGNAL_SPECS, azureLogFeatureSpec } from '../pipelines/azure-log.js';
import { AZURE_TEST_START, evaluateAzure } from '../pipelines/azure-pdm.js';
import { AZURE_LOG_FEATURES, AZURE_LOG_VERSION, loadAzureLogSplit } from './azure-log.js';
import { scoreWithOnnx, type BuildContext } from './common.js';

const ctx: BuildContext = { dataDir: DATA_DIR, artifactsDir: ARTIFACTS_DIR, progress: () => undefined, now: () => new Date(0) };
const split = loadAzureLogSplit(ctx);
const spec = azureLogFeatureSpec(AZURE_LOG_FEATURES, 0.5);
const width = AZURE_LOG_FEATURES.length;

function testRow(machine: number, iso: string): number[] {
  const time = Date.parse(iso);
  const row = split.test.assetIds.findIndex((id, i) => id === machine && split.test.times[i] === time);
  expect(row).toBeGreaterThanOrEqual(0);
  return [...split.test.x.subarray(row * width, (row + 1) * width)];
}

describe('Azure PdM with error and maintenance logs (2.0.0)', () => {
  it('log features match values counted by hand from the CSV files', () => {
    // machine 1, 24 h before its comp1 failure: comp1 replaced 2015-01-20, comp2 2014-06-01, comp3 2015-02-19,
    // comp4 2015-02-04 (all 06:00); one error1 (2015-03-05 06:00) in the last 24 h, error2 at 03-03 22:00 is older
    const row = testRow(1, '2015-03-05T06:00:00Z');
    const at = (name: string): number => row[AZURE_LOG_FEATURES.findIndex((f) => f.name === name)]!;
    expect(['comp1', 'comp2', 'comp3', 'comp4'].map((c) => at(`hours_since_${c}`))).toEqual([1056, 6648, 336, 696]);
    expect(at('errors_error1_mean_24')).toBe(Math.fround(1 / 24));
    expect(['error2', 'error3', 'error4', 'error5'].map((e) => at(`errors_${e}_mean_24`))).toEqual([0, 0, 0, 0]);
  });

  it('a device feeding log entries and readings in time order computes the training row', () => {
    const dir = join(DATA_DIR, 'azure-pdm');
    const readings = loadAzureData(dir).telemetry.get(3)!;
    const log = loadAzureLogs(dir).get(3)!;
    // the stream a source delivers: each log entry just before the first reading at or after its time
    const stream = [...log.map((entry) => ({ time: entry.time, entry })), ...readings.map((r) => ({ time: r.time, reading: r }))]
      .sort((a, b) => a.time - b.time || ('entry' in a ? -1 : 1));
    const signals = new LogSignals(AZURE_LOG_SIGNAL_SPECS.map((s) => s.name));
    const windows = new FeatureWindows(spec);
    let expected: Float32Array | undefined;
    for (const item of stream) {
      if ('entry' in item) {
        signals.record(item.entry!);
        continue;
      }
      const check = checkReading(spec, { ...item.reading!.values, ...signals.valuesAt(item.time) });
      if (!check.ok) continue;
      windows.push(check.values);
      if (item.time === AZURE_TEST_START) expected = windows.vector();
    }
    expect(expected).toBeDefined();
    expect(testRow(3, '2015-03-01T00:00:00Z')).toEqual([...expected!]);
  });

  it('the committed model scores the held-out month as its card says', async () => {
    const dir = join(ARTIFACTS_DIR, 'azure-pdm-failure-24h', AZURE_LOG_VERSION);
    const card = modelCardSchema.parse(JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8')));
    expect(card.featureSpec.features).toEqual(AZURE_LOG_FEATURES);
    const scores = await scoreWithOnnx(readFileSync(join(dir, 'model.onnx')), split.test.x, width);
    const metrics = evaluateAzure(split, card.featureSpec, scores);
    for (const key of ['hour.recall', 'hour.precision', 'event.recall', 'event.precision']) {
      expect(metrics[key]).toEqual(card.metrics[key]);
    }
  });
});

/**
 * azure-pdm-failure-24h 2.0.0 (telemetry + the machine's error and maintenance logs) on a whole agent
 * runtime replaying machine 3: its scores must be the ones the models package computes for the same
 * rows (training-side LogSignals merge, FeatureWindows, onnxruntime), whether 2.0.0 is the configured
 * model or is deployed while the replay runs. A device whose source has no log files refuses it,
 * naming the signals it cannot deliver.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isPdmError, modelCardSchema, predictionBatchSchema } from '@pdm/protocol';
import { buildFeatureRows } from '../../models/src/features.js';
import { scoreWithOnnx } from '../../models/src/builds/common.js';
import { loadAzureData, loadAzureLogs, type AzureData } from '../../models/src/data/azure-pdm.js';
import { azureLogSeries } from '../../models/src/pipelines/azure-log.js';
import { systemClock } from './clock.js';
import { agentConfigSchema } from './config/schema.js';
import { createRuntime } from './runtime.js';
import { silentLogger } from './testing/logger.js';
import { within } from './testing/waiting.js';
import { azureModels, telemetry, TestDevice } from './updates/device-harness.js';
import { artifactsOf, manifestFor, newSigner, signManifest } from './updates/testing.js';

const root = mkdtempSync(join(tmpdir(), 'pdm-log-signals-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const azureDir = new URL('../../models/data/azure-pdm/', import.meta.url).pathname;
const v2 = join(azureModels, '2.0.0');
const logFiles = [
  { file: join(azureDir, 'PdM_errors.csv'), kind: 'error' },
  { file: join(azureDir, 'PdM_maint.csv'), kind: 'maintenance' },
];
const source = (extra: Record<string, unknown> = {}) => ({ type: 'replay-csv', file: telemetry, filter: 'machineID=3', timeColumn: 'datetime', ...extra });
const signer = newSigner();
let n = 0;

/** Score per reading time of machine 3 as the models package computes it (azure-log.test.ts). */
async function expectedScores(): Promise<Map<number, number>> {
  const data = loadAzureData(azureDir);
  const machine3: AzureData = { ...data, telemetry: new Map([[3, data.telemetry.get(3)!]]) };
  const card = modelCardSchema.parse(JSON.parse(readFileSync(join(v2, 'card.json'), 'utf8')));
  const rows = buildFeatureRows(card.featureSpec, azureLogSeries(machine3, loadAzureLogs(azureDir)));
  const scores = await scoreWithOnnx(readFileSync(join(v2, 'model.onnx')), rows.x, rows.width);
  return new Map(rows.times.map((t, i) => [t, scores[i]!]));
}
const expected = expectedScores();

/** The 2.0.0 predictions that reached the broker: time -> score, each batch once. */
function predictionsOf(d: TestDevice, version: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const payload of d.broker.payloads('/up/predictions')) {
    const batch = predictionBatchSchema.parse(payload);
    if (batch.model.version !== version) continue;
    for (const p of batch.predictions) out.set(Date.parse(p.t), p.score);
  }
  return out;
}

async function device(config: Record<string, unknown>, speed: number | 'max', maxRows?: number): Promise<TestDevice> {
  const d = await TestDevice.start({
    dataDir: join(root, `d${n++}`), signers: [signer], speed, config, ...(maxRows === undefined ? {} : { maxRows }),
  });
  cleanup.push(() => d.stop());
  return d;
}

function expectSameScores(actual: Map<number, number>, want: Map<number, number>): void {
  expect(actual.size).toBeGreaterThan(0);
  for (const [time, score] of actual) {
    expect(want.has(time), new Date(time).toISOString()).toBe(true);
    expect(Math.abs(score - want.get(time)!), new Date(time).toISOString()).toBeLessThanOrEqual(1e-5);
  }
}

describe('log signals on the agent (azure-pdm-failure-24h 2.0.0)', () => {
  it('configured: every reading of machine 3 gets the score of the models package pipeline', async () => {
    const d = await device({ model: v2, source: source({ speed: 'max', maxRows: 600, logFiles }) }, 'max');
    expect(await within(d.rt.sourceDelivered, 'source delivered', 10_000)).toBe('ended');
    const actual = predictionsOf(d, '2.0.0');
    const last = Math.max(...actual.keys());
    const want = new Map([...(await expected)].filter(([time]) => time <= last));
    // every row the training side makes up to there (hours_since needs maintenance history from 2014) is scored
    expect(actual.size).toBe(want.size);
    expect(actual.size).toBe(600 - 23);
    expectSameScores(actual, want);
    expect(d.rt.summary()).toMatchObject({ rejectedReadings: 0 });
  });

  it('deployed while the replay runs on a 1.0.0 device with log files: committed, same scores', async () => {
    const d = await device(
      { updates: { trial: { inferences: 10, latencyBudgetMs: 1000 } }, source: source({ speed: 360_000, maxRows: 200, logFiles }) },
      360_000,
    );
    d.server.add(artifactsOf(v2).bytes);
    expect(await d.deploy(signManifest(manifestFor(v2, { deviceId: d.deviceId, release: 1, deploymentId: 'v2' }), [signer]))).toMatchObject({ status: 'ok' });
    await d.waitStatus('v2', 'committed');
    expect(await within(d.rt.sourceDelivered, 'source delivered', 15_000)).toBe('ended');
    const actual = predictionsOf(d, '2.0.0');
    expect(actual.size).toBeGreaterThanOrEqual(10);
    expectSameScores(actual, await expected);
  });

  it('deployed on a device without log files: failed:load naming the signals, 1.0.0 keeps running', async () => {
    const d = await device({}, 'max', 48);
    d.server.add(artifactsOf(v2).bytes);
    await d.deploy(signManifest(manifestFor(v2, { deviceId: d.deviceId, release: 1, deploymentId: 'v2-nolog' }), [signer]));
    await d.waitStatus('v2-nolog', 'reverted');
    const failed = d.deployments().find((r) => r.status === 'failed:load')!;
    expect(failed.detail).toMatch(/errors_error1, errors_error2, errors_error3, errors_error4, errors_error5 \(no source\.logFiles entry of kind "error"/);
    expect(failed.detail).toMatch(/hours_since_comp1, .*hours_since_comp4 \(no source\.logFiles entry of kind "maintenance"/);
    expect(d.running().active).toBe('azure-pdm-failure-24h@1.0.0');
  });

  it('configured without log files: start-up fails with CONFIG_INVALID naming them', async () => {
    const config = agentConfigSchema.parse({
      deviceId: 'edge-x', assetId: 'machine-3', dataDir: join(root, 'no-log'), model: v2, source: source(),
    });
    const err = await createRuntime(config, { clock: systemClock, log: silentLogger }).catch((e: unknown) => e);
    expect(isPdmError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/2\.0\.0 needs signals the source cannot deliver: errors_error1, .*hours_since_comp4/);
  });
});

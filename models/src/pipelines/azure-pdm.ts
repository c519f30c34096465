/**
 * Azure PdM "failure (any component) within 24 h" from hourly telemetry. Time-based split: train on
 * Jan-Feb 2015, test on March 2015; training rows whose 24 h label window reaches into March are
 * dropped (an embargo) so no training label looks at a test failure. The threshold is the best F1 on
 * out-of-fold scores of the training period (folds of whole machines).
 */
import type { FeatureSpec, FeatureSpecEntry } from '@pdm/protocol';
import { HOUR_MS, loadAzureData, type AzureData } from '../data/azure-pdm.js';
import { scoreEvents, type EventRef } from '../eval/events.js';
import { alertsOf, classificationMetrics, confusion, precision, recall, round, wilson, type Metric } from '../eval/metrics.js';
import { buildFeatureRows, selectRows, type FeatureRows, type TimedReading } from '../features.js';
import type { GbdtModel } from '../gbdt/model.js';
import { trainGbdt, type GbdtParamsInput } from '../gbdt/train.js';
import { azureFeatureSpec, HORIZON_HOURS } from './azure-features.js';
import { horizonLabels } from './labels.js';
import { assetFolds, bestF1Threshold, bestRecallThreshold, gbdtFitPredict, outOfFoldScores, readableThreshold } from './threshold.js';

export const AZURE_TRAIN_START = Date.parse('2015-01-01T00:00:00Z');
export const AZURE_TEST_START = Date.parse('2015-03-01T00:00:00Z');
const HORIZON_MS = HORIZON_HOURS * HOUR_MS;

export interface AzureDataset {
  data: AzureData;
  rows: FeatureRows;
  labels: Uint8Array;
  events: EventRef[];
}

export function azureSeries(data: AzureData): Map<number, TimedReading[]> {
  const series = new Map<number, TimedReading[]>();
  for (const [id, rows] of data.telemetry) series.set(id, rows.map((r) => ({ time: r.time, raw: r.values })));
  return series;
}

export function prepareAzure(dataDir: string, features: FeatureSpecEntry[]): AzureDataset {
  const data = loadAzureData(dataDir);
  return azureDataset(data, buildFeatureRows(azureFeatureSpec(features, 0.5), azureSeries(data)));
}

/** Feature rows of the Azure machines with their labels (failure within 24 h) and the failure events. */
export function azureDataset(data: AzureData, rows: FeatureRows): AzureDataset {
  const events = data.events.map((e) => ({ assetId: e.machineId, time: e.time }));
  return { data, rows, labels: horizonLabels(rows.assetIds, rows.times, events, HORIZON_MS), events };
}

export interface AzureSplit {
  train: FeatureRows;
  trainY: Uint8Array;
  test: FeatureRows;
  testY: Uint8Array;
  /** Failure events whose whole [failure - 24 h, failure) window lies in the test rows. */
  testEvents: EventRef[];
}

export function splitAzure(ds: AzureDataset): AzureSplit {
  const isTrain = (i: number): boolean => ds.rows.times[i]! < AZURE_TEST_START - HORIZON_MS;
  const isTest = (i: number): boolean => ds.rows.times[i]! >= AZURE_TEST_START;
  const testEnd = Math.max(...ds.rows.times);
  const machines = new Set(ds.rows.assetIds);
  return {
    train: selectRows(ds.rows, isTrain),
    trainY: Uint8Array.from(ds.labels.filter((_, i) => isTrain(i))),
    test: selectRows(ds.rows, isTest),
    testY: Uint8Array.from(ds.labels.filter((_, i) => isTest(i))),
    testEvents: ds.events.filter(
      (e) => machines.has(e.assetId) && e.time - HORIZON_MS >= AZURE_TEST_START && e.time - HOUR_MS <= testEnd,
    ),
  };
}

export interface AzureTrained {
  model: GbdtModel;
  spec: FeatureSpec;
  /** The threshold, the out-of-fold F1 it was chosen with, and the out-of-fold precision and recall at it. */
  validation: { threshold: number; f1: number; precision: number; recall: number; folds: number };
}

export interface AzureTrainOptions {
  folds?: number;
  /** The spec for the chosen threshold; the telemetry-only spec by default. */
  specOf?: (threshold: number) => FeatureSpec;
  /** Choose the threshold with the best out-of-fold recall at this precision or more, instead of the best F1. */
  minPrecision?: number;
}

export function trainAzure(split: AzureSplit, features: FeatureSpecEntry[], params: GbdtParamsInput, options: AzureTrainOptions = {}): AzureTrained {
  const folds = options.folds ?? 5;
  const oof = outOfFoldScores(split.train, split.trainY, assetFolds(split.train, folds), gbdtFitPredict(params));
  const best = options.minPrecision === undefined ? bestF1Threshold(oof, split.trainY) : bestRecallThreshold(oof, split.trainY, options.minPrecision);
  const threshold = readableThreshold(best.threshold);
  const c = confusion(alertsOf(oof, threshold, 'above'), split.trainY);
  const model = trainGbdt(split.train.x, split.trainY, params);
  const spec = options.specOf?.(threshold) ?? azureFeatureSpec(features, threshold);
  return { model, spec, validation: { threshold, f1: round(best.f1), precision: round(precision(c)), recall: round(recall(c)), folds } };
}

/** Held-out metrics from the scores the exported model produced (onnxruntime), at the spec's threshold. */
export function evaluateAzure(split: AzureSplit, spec: FeatureSpec, scores: ArrayLike<number>): Record<string, Metric> {
  const alerts = alertsOf(scores, spec.threshold, spec.alertWhen);
  const c = confusion(alerts, split.testY);
  const ev = scoreEvents(
    split.test.times.map((time, i) => ({ assetId: split.test.assetIds[i]!, time, alert: alerts[i]! })),
    split.testEvents,
    HORIZON_MS,
    HOUR_MS,
  );
  const trueEpisodes = ev.episodes - ev.falseEpisodes;
  const eventPrecision = ev.episodes === 0 ? 0 : trueEpisodes / ev.episodes;
  const eventRecall = ev.events === 0 ? 0 : ev.caught / ev.events;
  const lead = [...ev.leadHours].sort((a, b) => a - b);
  const alertCount = alerts.filter(Boolean).length;
  return {
    ...classificationMetrics('hour', c, 'hour'),
    'event.recall': { value: round(eventRecall), ci: wilson(ev.caught, ev.events), note: `${ev.caught} of ${ev.events} failure events had an alert in [failure-24h, failure)` },
    'event.precision': { value: round(eventPrecision), ci: wilson(trueEpisodes, ev.episodes), note: `${trueEpisodes} of ${ev.episodes} alert episodes (runs of consecutive alert hours) touched a pre-failure window` },
    'event.f1': { value: round(eventPrecision + eventRecall === 0 ? 0 : (2 * eventPrecision * eventRecall) / (eventPrecision + eventRecall)), note: 'harmonic mean of event precision and recall; no interval' },
    'falseAlarms.episodes': { value: ev.falseEpisodes, note: 'alert episodes with no failure in the following 24 h' },
    'falseAlarms.perMachineWeek': { value: round((ev.falseEpisodes / ev.assetDays) * 7), note: `over ${round(ev.assetDays, 1)} machine-days` },
    'hour.falsePositives': { value: c.fp, note: 'alert hours with no failure in the following 24 h' },
    'hour.alertRate': { value: round(alertCount / alerts.length), ci: wilson(alertCount, alerts.length), note: `${alertCount} of ${alerts.length} hours alerted` },
    'leadHours.median': { value: lead.length === 0 ? 0 : lead[Math.floor((lead.length - 1) / 2)]!, note: 'hours from the first alert in the window to the failure, caught events' },
    'test.events': { value: ev.events, note: 'failure events (machine, hour) in the held-out period' },
    'test.hours': { value: split.test.rows, note: `${split.testY.filter((y) => y === 1).length} of them within 24 h before a failure` },
  };
}

export function splitDescription(folds: number, thresholdRule = 'best hour-level F1'): string {
  return 'Time-based. Train: machines 1-15, 2015-01-02 05:00 (first full 24-reading window) to 2015-02-27 23:00; ' +
  'rows from 2015-02-28 00:00 are dropped so no training label (failure within 24 h) looks into March. ' +
  `Test (held out): 2015-03-01 00:00 to 2015-04-01 05:00, all 15 machines. Threshold: ${thresholdRule} on out-of-fold scores of the training period, ${folds} folds of whole machines.`;
}

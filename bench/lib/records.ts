/**
 * Records as agents publish them, encoded with the protocol codec: a paced agent's prediction batches
 * and metric windows (the mix bench/outbox.ts uses), valid against the topic schemas.
 */
import { encodePayload, recordSchemas, topicFor, type MetricWindow, type PredictionBatch } from '@pdm/protocol';

export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
}

const model = { name: 'azure-pdm-failure-24h', version: '1.0.0' };

export function predictionBatch(deviceId: string, seq: number, at: number, size = 4): PredictionBatch {
  const t = new Date(at).toISOString();
  return {
    deviceId, seq, time: t, assetId: `asset-${deviceId}`, model, role: 'active', horizonHours: 24, threshold: 0.42,
    predictions: Array.from({ length: size }, (_, k) => ({ t: new Date(at - (size - 1 - k) * 3_600_000).toISOString(), score: ((seq * 7 + k) % 97) / 100, alert: false })),
  };
}

export function metricWindow(deviceId: string, seq: number, at: number, windowMs = 3_600_000): MetricWindow {
  return {
    deviceId, seq, time: new Date(at).toISOString(), assetId: `asset-${deviceId}`,
    windowStart: new Date(at - windowMs).toISOString(), windowEnd: new Date(at).toISOString(),
    readings: 24, rejectedReadings: { 'out-of-range': 1 }, inferences: 23, inferenceErrors: 0, alerts: 0,
    latencyMs: { p50: 0.1, p95: 0.2, max: 0.4 }, model,
  };
}

/**
 * `perDevice` records for each of `devices` devices (ids `<prefix>-<n>`), seq 1.., three prediction
 * batches to one metric window, each checked against its schema once before the run.
 */
export function ingestWorkload(prefix: string, devices: number, perDevice: number): Message[][] {
  const at = Date.parse('2026-01-05T06:00:00.000Z');
  return Array.from({ length: devices }, (_, d) => {
    const deviceId = `${prefix}-${d}`;
    return Array.from({ length: perDevice }, (_, i) => {
      const seq = i + 1;
      if (seq % 4 === 0) {
        const m = metricWindow(deviceId, seq, at + i * 60_000);
        recordSchemas.metrics.parse(m);
        return { topic: topicFor(deviceId, 'metrics'), payload: encodePayload('metrics', m) };
      }
      const p = predictionBatch(deviceId, seq, at + i * 60_000);
      recordSchemas.predictions.parse(p);
      return { topic: topicFor(deviceId, 'predictions'), payload: encodePayload('predictions', p) };
    });
  });
}

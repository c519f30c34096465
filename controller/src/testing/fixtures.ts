/** Valid payloads for every upstream kind, for tests. Each builder takes overrides. */
import type {
  Alert, DeploymentStatus, MachineEvent, MetricWindow, PredictionBatch, Reply, Status,
} from '@pdm/protocol';

const T0 = Date.parse('2015-01-05T00:00:00.000Z');
const hour = (h: number): string => new Date(T0 + h * 3_600_000).toISOString();
const model = { name: 'azure-pdm-failure-24h', version: '1.0.0' };

export function status(deviceId: string, over: Partial<Status> = {}): Status {
  return {
    deviceId, state: 'online', time: new Date().toISOString(), agentVersion: '0.1.0', bootId: 'boot-1',
    assetId: `asset-${deviceId}`, assetClass: 'model3', site: 'plant-a',
    models: [{ ...model, role: 'active' }], lastSeq: 0,
    counters: {
      readings: 10, rejectedReadings: { 'out-of-range': 1 }, inferences: 9, alerts: 0, outboxDepth: 3, outboxBytes: 900,
      delivered: 7, dropped: { 'telemetry-evicted': 2 },
    },
    ...over,
  };
}

export function will(deviceId: string): Status {
  return { ...status(deviceId), state: 'offline', reason: 'lost', models: [], lastSeq: 0, counters: undefined };
}

export function predictions(deviceId: string, seq: number, n = 2, over: Partial<PredictionBatch> = {}): PredictionBatch {
  return {
    deviceId, seq, time: hour(seq), assetId: `asset-${deviceId}`, model, role: 'active', horizonHours: 24, threshold: 0.42,
    predictions: Array.from({ length: n }, (_v, i) => ({ t: hour(seq + i / n), score: 0.1 + i / (10 * n), alert: false })),
    ...over,
  };
}

export function alert(deviceId: string, seq: number, over: Partial<Alert> = {}): Alert {
  return {
    deviceId, seq, time: hour(seq), assetId: `asset-${deviceId}`, model, score: 0.81, threshold: 0.42, severity: 'warning',
    windowEnd: hour(seq), message: 'failure within 24 h likely', ...over,
  };
}

export function metrics(deviceId: string, seq: number, over: Partial<MetricWindow> = {}): MetricWindow {
  return {
    deviceId, seq, time: hour(seq), assetId: `asset-${deviceId}`, windowStart: hour(seq - 1), windowEnd: hour(seq),
    readings: 24, rejectedReadings: { 'non-finite': 1 }, inferences: 23, inferenceErrors: 0, alerts: 1,
    latencyMs: { p50: 0.1, p95: 0.2, max: 0.4 }, model, ...over,
  } as MetricWindow;
}

export function event(deviceId: string, seq: number, over: Partial<MachineEvent> = {}): MachineEvent {
  return {
    deviceId, seq, time: hour(seq), assetId: `asset-${deviceId}`, type: 'failure', at: hour(seq), component: 'comp4',
    source: 'replay', ...over,
  };
}

export function deployment(deviceId: string, seq: number, over: Partial<DeploymentStatus> = {}): DeploymentStatus {
  return {
    deviceId, seq, time: hour(seq), deploymentId: 'rollout-1/stage-1', model: { name: model.name, version: '1.1.0' },
    status: 'committed', ...over,
  };
}

export function reply(deviceId: string, commandId: string, over: Partial<Reply> = {}): Reply {
  return { deviceId, commandId, time: new Date().toISOString(), status: 'ok', data: {}, ...over } as Reply;
}

/** One valid record of every record kind, seq 1..5, for matrix tests. */
export function oneOfEach(deviceId: string) {
  return [
    { kind: 'predictions', payload: predictions(deviceId, 1, 3) },
    { kind: 'alerts', payload: alert(deviceId, 2) },
    { kind: 'metrics', payload: metrics(deviceId, 3) },
    { kind: 'events', payload: event(deviceId, 4) },
    { kind: 'deployment', payload: deployment(deviceId, 5) },
  ] as const;
}

/**
 * One simulated agent for the fleet and rollout benchmarks: a real mqtt.js connection as the agent
 * makes it (clientId = deviceId, clean session, MQTT 3.1.1, retained last will "offline/lost",
 * subscription to its down topics), the agent's status on connect and every heartbeat, and its
 * records (prediction batches, metric windows) at a given cadence with their own seq. Payloads are
 * built from the protocol schemas and encoded with the protocol codec; no ONNX. Commands are decoded
 * with the codec: `ping` and `report-state` are answered like the agent does; other commands go to
 * `onCommand` (the rollout simulator handles `deploy`).
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  decodePayload, deviceDownFilter, encodePayload, parseTopic, topicFor, type Command, type RecordKind, type Reply, type Status,
} from '@pdm/protocol';
import { metricWindow, predictionBatch } from '../lib/records.js';

export interface SimDeviceConfig {
  readonly deviceId: string;
  readonly url: string;
  readonly assetClass: string;
  readonly site: string;
  readonly heartbeatMs: number;
  /** 0: no records of that kind. */
  readonly predictionsMs: number;
  readonly metricsMs: number;
  readonly keepaliveSeconds: number;
  /** mqtt.js reconnect delay after a lost connection (the agent backs off from 1 s). */
  readonly reconnectMs: number;
}

export interface SimCounters {
  connects: number;
  statuses: number;
  records: number;
  publishErrors: number;
  commands: number;
}

export type CommandHandler = (device: SimDevice, command: Command) => void;

const AGENT_VERSION = '0.1.0';

export class SimDevice {
  private client: MqttClient | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private seq = 0;
  private readonly bootId = Math.random().toString(36).slice(2, 10);
  models: Status['models'] = [{ name: 'azure-pdm-failure-24h', version: '1.0.0', role: 'active' }];

  constructor(
    readonly config: SimDeviceConfig,
    private readonly counters: SimCounters,
    private readonly onCommand?: CommandHandler,
  ) {}

  get connected(): boolean {
    return this.client?.connected === true;
  }

  start(): void {
    const { config } = this;
    const client = mqtt.connect(config.url, {
      clientId: config.deviceId,
      clean: true,
      protocolVersion: 4,
      keepalive: config.keepaliveSeconds,
      reconnectPeriod: config.reconnectMs,
      connectTimeout: 30_000,
      will: { topic: topicFor(config.deviceId, 'status'), payload: encodePayload('status', this.status('offline', 'lost')), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', () => undefined); // reconnects by itself; counted as connects
  }

  /** Ends the connection without a goodbye: the broker publishes the last will. */
  drop(): void {
    this.client?.stream.destroy();
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    await this.client?.endAsync();
  }

  status(state: 'online' | 'offline', reason?: 'stopped' | 'lost'): Status {
    const { config } = this;
    return {
      deviceId: config.deviceId, state, time: new Date().toISOString(), ...(reason === undefined ? {} : { reason }),
      agentVersion: AGENT_VERSION, bootId: this.bootId, assetId: `asset-${config.deviceId}`, assetClass: config.assetClass, site: config.site,
      models: this.models, lastSeq: this.seq,
    };
  }

  publishStatus(): void {
    this.publish('status', encodePayload('status', this.status('online')), true, () => this.counters.statuses++);
  }

  publishReply(reply: Reply): void {
    this.publish('reply', encodePayload('reply', reply), false);
  }

  /** A record with the next seq, as the agent's outbox forwarder publishes it. */
  publishRecord(kind: RecordKind, build: (seq: number) => Buffer): void {
    const payload = build(++this.seq);
    this.publish(kind, payload, false, () => this.counters.records++);
  }

  publish(kind: Parameters<typeof topicFor>[1], payload: Buffer, retain: boolean, done?: () => void): void {
    const client = this.client;
    if (client === undefined || !client.connected) return;
    client.publish(topicFor(this.config.deviceId, kind), payload, { qos: 1, retain }, (err) => {
      if (err === undefined || err === null) done?.();
      else this.counters.publishErrors++;
    });
  }

  private onConnect(client: MqttClient): void {
    this.counters.connects++;
    client.subscribe(deviceDownFilter(this.config.deviceId), { qos: 1 });
    this.publishStatus();
    if (this.timers.length > 0) return; // timers survive reconnects, like the agent's heartbeat
    const { heartbeatMs, predictionsMs, metricsMs, deviceId } = this.config;
    this.timers.push(setInterval(() => this.publishStatus(), heartbeatMs));
    // records start at a random phase: a fleet's devices did not all boot in the same second
    if (predictionsMs > 0) this.every(predictionsMs, () => this.publishRecord('predictions', (seq) => encodePayload('predictions', predictionBatch(deviceId, seq, Date.now(), 1))));
    if (metricsMs > 0) this.every(metricsMs, () => this.publishRecord('metrics', (seq) => encodePayload('metrics', metricWindow(deviceId, seq, Date.now(), metricsMs))));
  }

  private every(ms: number, fn: () => void): void {
    const first = setTimeout(() => {
      fn();
      this.timers.push(setInterval(fn, ms));
    }, Math.random() * ms);
    this.timers.push(first);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (parsed?.kind !== 'cmd') return this.onOther(parsed?.kind, payload);
    let command: Command;
    try {
      command = decodePayload('cmd', payload);
    } catch {
      return;
    }
    this.counters.commands++;
    const time = new Date().toISOString();
    if (command.type === 'ping' || command.type === 'report-state') {
      if (command.type === 'report-state') this.publishStatus();
      this.publishReply({ deviceId: this.config.deviceId, commandId: command.id, time, status: 'ok', ...(command.type === 'ping' ? { data: { time } } : {}) });
      return;
    }
    this.onCommand?.(this, command);
  }

  /** Chunks and anything else addressed to the device: for the rollout simulator's fetcher. */
  chunkListener: ((payload: Buffer) => void) | undefined;

  private onOther(kind: string | undefined, payload: Buffer): void {
    if (kind === 'chunk') this.chunkListener?.(payload);
  }
}

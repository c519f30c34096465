/**
 * BrokerLink over an mqtt.js client: the same code whether the broker is the embedded aedes or an
 * external one. A persistent session (clean: false, fixed client id) lets the broker keep QoS 1
 * messages for the controller across a reconnect of this link.
 */
import { randomUUID } from 'node:crypto';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { PdmError, type QoS } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import type { BrokerLink, Health, LinkConnectOptions, LinkMessage, MessageHandler } from './broker-link.js';

export interface MqttLinkOptions {
  connect: () => LinkConnectOptions;
  /** How long start() waits for the first connection. */
  connectTimeoutMs?: number;
  reconnectPeriodMs?: number;
}

interface Held {
  message: LinkMessage;
  done: (err?: Error) => void;
}

export class MqttLink implements BrokerLink {
  readonly #options: MqttLinkOptions;
  readonly #log: Logger;
  readonly #connectListeners = new Set<() => void>();
  readonly #flushWaiters = new Map<string, () => void>();
  #client: MqttClient | undefined;
  #handler: MessageHandler | undefined;
  /** Messages that arrived before a handler was set; holding their ack also holds the stream (back-pressure). */
  #held: Held[] = [];
  #flushTopic = '';
  #dropScheduled = false;

  constructor(options: MqttLinkOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
  }

  get connected(): boolean {
    return this.#client?.connected === true;
  }

  async start(): Promise<void> {
    const target = this.#options.connect();
    this.#flushTopic = `pdm-internal/${target.clientId}/flush`;
    const opts: IClientOptions = {
      clientId: target.clientId,
      username: target.username,
      password: target.password,
      protocolVersion: 4,
      clean: false,
      keepalive: 30,
      reconnectPeriod: this.#options.reconnectPeriodMs ?? 1000,
      connectTimeout: this.#options.connectTimeoutMs ?? 10_000,
      resubscribe: true,
    };
    const client = connect(target.url, opts);
    this.#client = client;
    client.handleMessage = (packet, callback) => this.#onPacket(packet, callback);
    client.on('connect', (connack) => {
      this.#log.info({ url: target.url, sessionPresent: connack.sessionPresent }, 'link connected');
      for (const listener of this.#connectListeners) listener();
    });
    client.on('offline', () => this.#log.warn({ url: target.url }, 'link offline'));
    client.on('error', (err) => this.#log.warn({ err: err.message, url: target.url }, 'link error'));
    await this.#firstConnect(client, target.url);
    await client.subscribeAsync(this.#flushTopic, { qos: 1 });
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client === undefined) return;
    for (const held of this.#held) held.done(new PdmError('LINK_FAILED', 'link stopped'));
    this.#held = [];
    // A graceful end waits for in-flight acknowledgements; an unreachable broker must not hang shutdown.
    if (client.connected) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), 2000); });
      const ended = await Promise.race([client.endAsync(false).then(() => 'ended' as const), late]);
      clearTimeout(timer);
      if (ended === 'ended') { this.#log.info({}, 'link stopped'); return; }
    }
    await client.endAsync(true);
    this.#log.info({}, 'link stopped');
  }

  setHandler(handler: MessageHandler): void {
    this.#handler = handler;
    const held = this.#held;
    this.#held = [];
    for (const { message, done } of held) this.#deliver(message, done);
  }

  async subscribe(filters: readonly string[], qos: QoS): Promise<void> {
    const granted = await this.#live().subscribeAsync([...filters], { qos });
    const refused = granted.filter((g) => g.qos === 128);
    if (refused.length > 0) {
      throw new PdmError('LINK_FAILED', 'broker refused a subscription', { context: { filters: refused.map((g) => g.topic) } });
    }
  }

  async publish(topic: string, payload: Buffer, options: { qos: QoS; retain: boolean }): Promise<void> {
    await this.#live().publishAsync(topic, payload, options);
  }

  async flush(timeoutMs: number): Promise<void> {
    const nonce = randomUUID();
    const arrived = new Promise<void>((resolve) => this.#flushWaiters.set(nonce, resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new PdmError('LINK_FAILED', 'flush marker did not come back', { context: { timeoutMs } })), timeoutMs);
    });
    const roundTrip = async () => {
      await this.publish(this.#flushTopic, Buffer.from(nonce), { qos: 1, retain: false });
      await arrived;
    };
    try {
      // the deadline covers the publish too: with the broker gone its PUBACK never comes
      await Promise.race([roundTrip(), timeout]);
    } finally {
      clearTimeout(timer);
      this.#flushWaiters.delete(nonce);
    }
  }

  onConnect(listener: () => void): () => void {
    this.#connectListeners.add(listener);
    return () => this.#connectListeners.delete(listener);
  }

  health(): Health {
    return this.connected ? { ok: true } : { ok: false, detail: this.#client === undefined ? 'not started' : 'disconnected' };
  }

  #live(): MqttClient {
    if (this.#client === undefined) throw new PdmError('LINK_FAILED', 'link is not started');
    return this.#client;
  }

  async #firstConnect(client: MqttClient, url: string): Promise<void> {
    if (client.connected) return;
    const timeoutMs = this.#options.connectTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('connect', onConnect);
        void client.endAsync(true);
        reject(new PdmError('LINK_FAILED', 'could not connect to the broker', { context: { url, timeoutMs } }));
      }, timeoutMs);
      const onConnect = () => { clearTimeout(timer); resolve(); };
      client.once('connect', onConnect);
    });
  }

  #onPacket(packet: IPublishPacket, callback: (err?: Error) => void): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (packet.topic === this.#flushTopic) {
      this.#flushWaiters.get(payload.toString())?.();
      callback();
      return;
    }
    const message: LinkMessage = { topic: packet.topic, payload, retain: packet.retain };
    if (this.#handler === undefined) this.#held.push({ message, done: callback });
    else this.#deliver(message, callback);
  }

  #deliver(message: LinkMessage, done: (err?: Error) => void): void {
    try {
      this.#handler!(message);
      done();
    } catch (err) {
      this.#log.error({ err, topic: message.topic }, 'message not processed; will be redelivered');
      done(err as Error);
      this.#scheduleRedelivery();
    }
  }

  /**
   * An unacknowledged QoS 1 message is sent again only when the session resumes [MQTT-4.4.0-1], so
   * drop the connection (once) and let the reconnect bring it back.
   */
  #scheduleRedelivery(): void {
    if (this.#dropScheduled) return;
    this.#dropScheduled = true;
    setTimeout(() => {
      this.#dropScheduled = false;
      this.#client?.stream.destroy();
    }, this.#options.reconnectPeriodMs ?? 1000).unref();
  }
}

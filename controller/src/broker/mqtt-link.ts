/**
 * BrokerLink over an mqtt.js client: the same code whether the broker is the embedded aedes or an
 * external one. A persistent session (clean: false, fixed client id) lets the broker keep QoS 1
 * messages for the controller across a reconnect of this link.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { PdmError, parseTopic, type QoS } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import type { BrokerLink, Health, LinkConnectOptions, LinkMessage, LinkObserver, MessageHandler } from './broker-link.js';
import { isShared, sharedFilter } from './shared-subscriptions.js';

export interface MqttLinkOptions {
  connect: () => LinkConnectOptions;
  /** How long start() waits for the first connection. */
  connectTimeoutMs?: number;
  reconnectPeriodMs?: number;
  observer?: LinkObserver;
}

// CONNACK refusals that waiting will not cure: MQTT 3.1.1 return codes 1-5 [MQTT-3.2.2-3] and MQTT 5
// reason codes 0x80 and up [MQTT-3.2.2.2]; TLS certificate errors likewise.
const isFatalConnectError = (err: Error & { code?: unknown }): boolean =>
  typeof err.code === 'number' ? err.code > 0 : typeof err.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(err.code);

interface Held {
  packet: IPublishPacket;
  message: LinkMessage;
  done: (err?: Error) => void;
}

/**
 * Passed to mqtt.js' handleMessage callback to release the next packet without its PUBACK (an error
 * there skips the PUBACK and nothing else: mqtt.js handlers/publish.js); this link sends it itself.
 */
const ACK_DEFERRED = new PdmError('INTERNAL', 'PUBACK deferred until the message is committed');

/** Unacknowledged QoS 1 messages the broker may send this link at once (MQTT 5 Receive Maximum [MQTT-3.1.2.11.3]). */
const RECEIVE_MAXIMUM = 1000;

type Puback = (packet: { cmd: 'puback'; messageId: number; reasonCode: number }) => void;

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
  #flushReady: Promise<void> = Promise.resolve();
  #dropScheduled = false;
  #holding = false;
  #sharedGroup: string | undefined;
  /** Shared filters subscribed, to leave the group on stop. */
  readonly #sharedFilters = new Set<string>();
  /** Messages handed to the handler whose promise has not settled yet (a flush marker waits for them). */
  readonly #handling = new Set<Promise<void>>();

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
    this.#sharedGroup = target.sharedGroup;
    this.#holding = false;
    const client = connect(target.url, this.#clientOptions(target));
    this.#client = client;
    client.handleMessage = (packet, callback) => this.#onPacket(packet, callback);
    client.on('connect', (connack) => {
      this.#log.info({ url: target.url, sessionPresent: connack.sessionPresent }, 'link connected');
      for (const listener of this.#connectListeners) listener();
    });
    client.on('offline', () => this.#log.warn({ url: target.url }, 'link offline'));
    client.on('error', (err) => this.#log.warn({ err: err.message, url: target.url }, 'link error'));
    await this.#firstConnect(client, target.url);
    // Not awaited here: a resumed session delivers its queued messages before the SUBACK, and they
    // are held (unacknowledged, which stops mqtt.js reading further packets) until ingest sets its
    // handler, after this start returns. flush() waits for it instead.
    this.#flushReady = client.subscribeAsync(this.#flushTopic, { qos: 1 }).then(() => undefined);
    this.#flushReady.catch((err: unknown) => this.#log.warn({ err }, 'flush marker subscription failed'));
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client === undefined) return;
    // Held messages stay unacknowledged: the broker sends them again when the session resumes. While
    // one is held mqtt.js reads nothing more, so no acknowledgement a graceful end would wait for can come.
    const holding = this.#held.length > 0;
    this.#held = [];
    this.#sharedFilters.clear();
    // A graceful end waits for in-flight acknowledgements; an unreachable broker must not hang shutdown.
    if (client.connected && !holding) {
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
    if (this.#holding) return;
    const held = this.#held;
    this.#held = [];
    for (const h of held) this.#deliver(h);
  }

  async subscribe(filters: readonly string[], qos: QoS): Promise<void> {
    const mapped = filters.map((f) => sharedFilter(f, this.#sharedGroup));
    const granted = await this.#live().subscribeAsync(mapped, { qos });
    // 0x80 (MQTT 3.1.1) or any MQTT 5 reason code from 0x80 up, e.g. 0x87 not authorized, 0x9E shared subscriptions not supported
    const refused = granted.filter((g) => g.qos >= 0x80);
    if (refused.length > 0) {
      throw new PdmError('LINK_FAILED', 'broker refused a subscription', {
        context: { filters: refused.map((g) => g.topic), reasonCodes: refused.map((g) => g.qos) },
      });
    }
    for (const f of mapped) if (isShared(f)) this.#sharedFilters.add(f);
  }

  hold(): void {
    this.#holding = true;
  }

  async leaveSharedGroup(): Promise<number> {
    const filters = [...this.#sharedFilters];
    if (filters.length === 0 || this.#client === undefined) return 0;
    await this.#client.unsubscribeAsync(filters);
    this.#sharedFilters.clear();
    this.#log.info({ filters, group: this.#sharedGroup }, 'left the shared subscription group');
    return filters.length;
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
      await this.#flushReady;
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

  #clientOptions(target: LinkConnectOptions): IClientOptions {
    const v5 = target.protocolVersion === 5;
    return {
      clientId: target.clientId,
      username: target.username,
      password: target.password,
      protocolVersion: target.protocolVersion ?? 4,
      // MQTT 5 ends a session when the connection closes unless it has an expiry [MQTT-3.1.2-23]
      ...(v5 ? { properties: { sessionExpiryInterval: target.sessionExpirySec ?? 0, receiveMaximum: RECEIVE_MAXIMUM } } : {}),
      clean: false,
      keepalive: 30,
      reconnectPeriod: this.#options.reconnectPeriodMs ?? 1000,
      connectTimeout: this.#options.connectTimeoutMs ?? 10_000,
      resubscribe: true,
      ...(target.tls === undefined ? {} : {
        ca: target.tls.ca, cert: target.tls.cert, key: target.tls.key, rejectUnauthorized: target.tls.rejectUnauthorized,
      }),
    };
  }

  #live(): MqttClient {
    if (this.#client === undefined) throw new PdmError('LINK_FAILED', 'link is not started');
    return this.#client;
  }

  async #firstConnect(client: MqttClient, url: string): Promise<void> {
    if (client.connected) return;
    const timeoutMs = this.#options.connectTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const fail = (message: string, context: Record<string, unknown>) => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
        void client.endAsync(true);
        reject(new PdmError('LINK_FAILED', message, { context: { url, ...context } }));
      };
      const timer = setTimeout(() => fail('could not connect to the broker', { timeoutMs }), timeoutMs);
      const onConnect = () => { clearTimeout(timer); client.off('error', onError); resolve(); };
      // A refused login or an untrusted certificate will not get better by retrying: fail now, saying why.
      const onError = (err: Error & { code?: unknown }) => {
        if (isFatalConnectError(err)) fail('broker refused the connection', { reason: err.message, code: err.code ?? null });
      };
      client.once('connect', onConnect);
      client.on('error', onError);
    });
  }

  #onPacket(packet: IPublishPacket, callback: (err?: Error) => void): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (packet.topic === this.#flushTopic) {
      callback();
      // the marker came behind the messages queued before it: done once those are handled
      const waiter = this.#flushWaiters.get(payload.toString());
      if (waiter !== undefined) void Promise.allSettled([...this.#handling]).then(() => waiter());
      return;
    }
    const held: Held = { packet, message: { topic: packet.topic, parsed: parseTopic(packet.topic), payload, retain: packet.retain }, done: callback };
    if (this.#handler === undefined || this.#holding) this.#held.push(held);
    else this.#deliver(held);
  }

  /**
   * mqtt.js hands over one PUBLISH at a time and reads the next only after the previous one's PUBACK
   * (its handleMessage contract), which would make each of ingest's group commits a batch of one. So a
   * QoS 1 message is released at once and this link sends its PUBACK when the handler has committed it;
   * the broker's in-flight window (RECEIVE_MAXIMUM for MQTT 5) bounds how many wait at a time.
   */
  #deliver({ packet, message, done }: Held): void {
    const started = performance.now();
    const client = this.#client;
    const stream = client?.stream;
    const deferred = packet.qos === 1 && packet.messageId !== undefined && client !== undefined;
    const handled = () => {
      this.#options.observer?.handled(message, (performance.now() - started) / 1000, true);
      if (!deferred) return done();
      // after a reconnect the broker sends it again (its id may be reused): no PUBACK on the new connection
      if (this.#client !== client || client.stream !== stream || !client.connected) return;
      (client as unknown as { _sendPacket: Puback })._sendPacket({ cmd: 'puback', messageId: packet.messageId!, reasonCode: 0 });
    };
    const failed = (err: unknown) => {
      this.#options.observer?.handled(message, (performance.now() - started) / 1000, false);
      this.#log.error({ err, topic: message.topic }, 'message not processed; will be redelivered');
      if (!deferred) done(err instanceof Error ? err : new PdmError('INTERNAL', 'message not processed', { cause: err }));
      this.#scheduleRedelivery();
    };
    let result: void | Promise<void>;
    try {
      result = this.#handler!(message);
    } catch (err) {
      if (deferred) done(ACK_DEFERRED);
      return failed(err);
    }
    if (deferred) done(ACK_DEFERRED);
    if (result === undefined) return handled();
    const settled = result.then(handled, failed);
    this.#handling.add(settled);
    void settled.finally(() => this.#handling.delete(settled));
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

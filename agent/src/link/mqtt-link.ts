/**
 * The agent's MQTT link: one connection to the broker as clientId = deviceId, a retained last will
 * that marks the device offline, typed publish (QoS and retain from the protocol's topic table) and
 * dispatch of the device's `down/+` messages.
 *
 * Each connection attempt is a fresh mqtt.js client with `reconnectPeriod: 0`: mqtt.js neither retries
 * on its own (it knows only a fixed period) nor replays its in-memory store of unacknowledged publishes.
 * Resending is the forwarder's job, from the outbox, in seq order; the link only reports up and down.
 * Clean sessions: nothing the device needs is queued in the broker (the controller reconciles on
 * connect), so a broker restart loses nothing the agent relies on.
 */
import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  PdmError, deviceDownFilter, encodePayload, parseTopic, topicFor, topicSpecs, type DownKind, type PayloadOf, type Status,
  type UpKind,
} from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { Listeners } from '../listeners.js';
import { backoffDelay } from './backoff.js';

export interface LinkConfig {
  readonly deviceId: string;
  readonly brokerUrl: string;
  readonly keepaliveSeconds: number;
  readonly connectTimeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  /** File holding the broker password; the user name is then the deviceId (deploy/mosquitto/acl). */
  readonly passwordFile?: string | undefined;
  /** TLS: CA(s) of the broker's certificate, and an optional client certificate (CN = deviceId) with its key. */
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

export interface LinkDeps {
  readonly config: LinkConfig;
  /** The last will, built at each connection attempt: status "offline", reason "lost". */
  readonly will: () => Status;
  readonly clock: Clock;
  readonly log: Logger;
  readonly random?: () => number;
}

/** A connection that lasted this long resets the backoff; a shorter one (e.g. kicked at once) does not. */
const STABLE_MS = 5_000;
const GOODBYE_TIMEOUT_MS = 2_000;

export class MqttLink {
  private client: MqttClient | undefined;
  private up = false;
  private upSince = 0;
  private stopped = true;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly upListeners: Listeners<[]>;
  private readonly downListeners: Listeners<[]>;
  private readonly messageListeners = new Map<DownKind, Listeners<[Buffer]>>();

  constructor(private readonly deps: LinkDeps) {
    const onError = (err: unknown): void => deps.log.error({ err }, 'link listener failed');
    this.upListeners = new Listeners(onError);
    this.downListeners = new Listeners(onError);
  }

  get connected(): boolean {
    return this.up;
  }

  /** Starts connecting in the background; `onUp` listeners run on every (re)connection. */
  start(): void {
    this.stopped = false;
    this.connectOnce();
  }

  /**
   * Publishes `goodbye` (status offline, reason stopped) when connected, then disconnects cleanly,
   * which makes the broker discard the last will [MQTT-3.14.4-3].
   */
  async stop(goodbye?: Status): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    if (client === undefined) return;
    if (this.up && goodbye !== undefined) {
      await withTimeout(this.publishPayload('status', goodbye), GOODBYE_TIMEOUT_MS).catch((err: unknown) => {
        this.deps.log.warn({ err }, 'goodbye status not acknowledged');
      });
    }
    const wasUp = this.up;
    this.markDown();
    await withTimeout(client.endAsync(!wasUp), GOODBYE_TIMEOUT_MS).catch(() => client.end(true));
    this.client = undefined;
  }

  onUp(listener: () => void): () => void {
    return this.upListeners.add(listener);
  }

  onDown(listener: () => void): () => void {
    return this.downListeners.add(listener);
  }

  /** Raw payloads arriving on the device's `down/<kind>` topic; decoding is the receiver's job. */
  onMessage(kind: DownKind, listener: (payload: Buffer) => void): () => void {
    let set = this.messageListeners.get(kind);
    if (set === undefined) {
      set = new Listeners((err) => this.deps.log.error({ err, kind }, 'message listener failed'));
      this.messageListeners.set(kind, set);
    }
    return set.add(listener);
  }

  /**
   * Publishes encoded bytes on the device's `up/<kind>` topic with the protocol's QoS and retain flag.
   * Resolves on PUBACK (QoS 1); rejects with LINK_FAILED when not connected or the connection drops.
   */
  publish(kind: UpKind, payload: Buffer): Promise<void> {
    const client = this.client;
    if (!this.up || client === undefined) {
      return Promise.reject(new PdmError('LINK_FAILED', 'not connected', { context: { kind } }));
    }
    const spec = topicSpecs[kind];
    return new Promise((resolve, reject) => {
      client.publish(topicFor(this.deps.config.deviceId, kind), payload, { qos: spec.qos, retain: spec.retain }, (err) => {
        if (err) reject(new PdmError('LINK_FAILED', 'publish failed', { cause: err, context: { kind } }));
        else resolve();
      });
    });
  }

  publishPayload<K extends UpKind>(kind: K, payload: PayloadOf<K>): Promise<void> {
    return this.publish(kind, encodePayload(kind, payload));
  }

  private connectOnce(): void {
    const { config, log } = this.deps;
    const will = this.deps.will();
    const options: IClientOptions = {
      clientId: config.deviceId,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: config.keepaliveSeconds,
      connectTimeout: config.connectTimeoutMs,
      will: { topic: topicFor(config.deviceId, 'status'), payload: encodePayload('status', will), qos: 1, retain: true },
      ...this.credentials(),
      ...this.tlsFiles(),
    };
    const client = connect(config.brokerUrl, options);
    this.client = client;
    client.on('connect', () => void this.onConnect(client));
    client.on('message', (topic, payload) => this.dispatch(topic, payload));
    client.on('error', (err) => log.warn({ err: { message: err.message, code: (err as { code?: unknown }).code } }, 'mqtt error'));
    client.on('close', () => this.onClose(client));
  }

  /**
   * Read at each attempt, so a rotated password is picked up by the next reconnect. An unreadable
   * file is logged and the attempt goes without a password: the broker refuses it and the usual
   * backoff retries, instead of the agent dying with its outbox full.
   */
  private credentials(): Pick<IClientOptions, 'username' | 'password'> {
    const file = this.deps.config.passwordFile;
    if (file === undefined) return {};
    try {
      return { username: this.deps.config.deviceId, password: readFileSync(file, 'utf8').replace(/\r?\n$/, '') };
    } catch (err) {
      this.deps.log.error({ err, file }, 'cannot read link.passwordFile');
      return { username: this.deps.config.deviceId };
    }
  }

  /**
   * Read at each attempt like the password, so renewed certificates are picked up by the next
   * reconnect. An unreadable file is logged and left out: the TLS handshake or the broker then
   * refuses, and the backoff retries.
   */
  private tlsFiles(): Pick<IClientOptions, 'ca' | 'cert' | 'key'> {
    const { caFile, certFile, keyFile } = this.deps.config;
    const out: Pick<IClientOptions, 'ca' | 'cert' | 'key'> = {};
    for (const [option, file] of [['ca', caFile], ['cert', certFile], ['key', keyFile]] as const) {
      if (file === undefined) continue;
      try {
        out[option] = readFileSync(file);
      } catch (err) {
        this.deps.log.error({ err, file, option }, 'cannot read a link TLS file');
      }
    }
    return out;
  }

  private async onConnect(client: MqttClient): Promise<void> {
    if (client !== this.client) return;
    try {
      await client.subscribeAsync(deviceDownFilter(this.deps.config.deviceId), { qos: 1 });
    } catch (err) {
      this.deps.log.warn({ err }, 'subscribe failed');
      client.end(true);
      return;
    }
    if (client !== this.client || this.stopped) return;
    this.up = true;
    this.upSince = this.deps.clock.monotonic();
    this.deps.log.info({ brokerUrl: this.deps.config.brokerUrl }, 'link up');
    this.upListeners.emit();
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    const lasted = this.up ? this.deps.clock.monotonic() - this.upSince : 0;
    this.markDown();
    // force-end fails every publish still waiting for a PUBACK on this connection, so nobody waits forever
    client.end(true);
    this.client = undefined;
    if (this.stopped) return;
    this.attempt = lasted >= STABLE_MS ? 0 : this.attempt + 1;
    const delay = backoffDelay(
      { initialMs: this.deps.config.reconnectInitialMs, maxMs: this.deps.config.reconnectMaxMs },
      this.attempt,
      this.deps.random ?? Math.random,
    );
    this.deps.log.info({ delayMs: delay, attempt: this.attempt }, 'reconnecting');
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.connectOnce();
    }, delay);
  }

  private markDown(): void {
    if (!this.up) return;
    this.up = false;
    this.deps.log.warn({}, 'link down');
    this.downListeners.emit();
  }

  private dispatch(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (parsed === undefined || parsed.deviceId !== this.deps.config.deviceId || parsed.direction !== 'down') {
      this.deps.log.warn({ topic: topic.slice(0, 200) }, 'message on an unexpected topic ignored');
      return;
    }
    this.messageListeners.get(parsed.kind as DownKind)?.emit(payload);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new PdmError('LINK_FAILED', 'timed out', { context: { ms } })), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

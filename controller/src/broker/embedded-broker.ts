/**
 * The embedded MQTT broker: aedes in this process, reachable over TCP, MQTT over WebSocket and, when
 * a certificate is configured, MQTT over TLS (optionally asking devices for client certificates).
 * Who may connect and what each client may do is broker-policy.ts.
 *
 * Ingest takes device publishes on upstream topics in the authorizePublish hook (takeUpstream), not
 * through a subscription: aedes writes a QoS 1 PUBACK before it delivers the message to subscribers
 * (aedes lib/handlers/publish.js), so a subscriber that crashes can lose a record the device already
 * deleted from its outbox; only authorizePublish runs before the PUBACK. Devices are refused
 * (CONNACK "server unavailable") until ingest is ready. The controller's own link connects with a
 * per-start secret, so no device can take over its client id or session.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, isIPv6, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { Aedes, type AedesOptions, type Client, type PublishPacket } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { PdmError, matchesUpstreamFilter, parseTopic, topicSpecs, type ParsedTopic } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import type { BrokerHost, BrokerPorts, BrokerStats } from './broker-host.js';
import type { Health, LinkConnectOptions, LinkMessage, LinkObserver, MessageHandler } from './broker-link.js';
import { BrokerPolicy, CONTROLLER_CLIENT_ID, type BrokerPolicyOptions, type DeviceCredentials, type PeerCertificate } from './broker-policy.js';
import { createTlsListener, type BrokerTlsOptions } from './tls-listener.js';
import { PacketSizeGuard } from './packet-guard.js';
import { RetainedIndex, type RetainedPersistence } from './retained-index.js';

export { CONTROLLER_CLIENT_ID } from './broker-policy.js';

// Devices use their deviceId (at most 64 characters, DEVICE_ID_PATTERN) as MQTT client id
// (protocol/README.md); aedes' default limit is 23.
const MAX_CLIENT_ID_LENGTH = 64;

/** Largest MQTT packet accepted: the largest payload of any pdm topic, plus room for topic and headers. */
export const MAX_PACKET_BYTES = Math.max(...Object.values(topicSpecs).map((s) => s.maxBytes)) + 64 * 1024;

export interface EmbeddedBrokerOptions extends Partial<BrokerPolicyOptions> {
  host: string;
  mqttPort: number;
  wsPort: number;
  drainTimeoutMs: number;
  concurrency: number;
  /** MQTT over TLS; absent: no TLS listener. */
  tls?: BrokerTlsOptions | undefined;
  /** Sees every message handed to ingest (metrics), as the link's observer does for an external broker. */
  observer?: LinkObserver | undefined;
}

/** Open: what a broker without the device registry (tests of other parts) allows. */
const OPEN_POLICY: BrokerPolicyOptions = { deviceAuth: 'none', maxConnections: 10_000, limits: { ratePerSecond: 0, burst: 1 } };
const NO_CREDENTIALS: DeviceCredentials = { verify: async () => false, isActive: () => false };

interface AedesInternals {
  clients: Record<string, Client>;
}

export class EmbeddedBroker implements BrokerHost {
  readonly #options: EmbeddedBrokerOptions;
  readonly #log: Logger;
  readonly #policy: BrokerPolicy;
  /** The TLS socket under each guarded stream, for the client certificate. */
  readonly #tlsSockets = new WeakMap<object, TLSSocket>();
  #aedes: Aedes | undefined;
  #tcp: TcpServer | undefined;
  #tls: TlsServer | undefined;
  #http: HttpServer | undefined;
  #wss: WebSocketServer | undefined;
  #secret = '';
  #open = false;
  #ports: BrokerPorts | undefined;
  #received = 0;
  #sent = 0;
  #upstream: MessageHandler | undefined;

  constructor(options: EmbeddedBrokerOptions, log: Logger, credentials: DeviceCredentials = NO_CREDENTIALS) {
    this.#options = options;
    this.#log = log;
    this.#policy = new BrokerPolicy({
      deviceAuth: options.deviceAuth ?? OPEN_POLICY.deviceAuth,
      maxConnections: options.maxConnections ?? OPEN_POLICY.maxConnections,
      limits: options.limits ?? OPEN_POLICY.limits,
    }, {
      credentials,
      controllerSecret: () => this.#secret,
      open: () => this.#open,
      otherDevices: (clientId) => this.#otherDevices(clientId),
      peerCertificate: (client) => this.#peerCertificate(client),
      log,
    });
  }

  get ports(): BrokerPorts | undefined {
    return this.#ports;
  }

  async start(): Promise<void> {
    this.#secret = randomBytes(24).toString('base64url');
    if (this.#options.deviceAuth === 'none') {
      this.#log.warn({ deviceAuth: 'none' }, 'device authentication is off: any client may connect and use any topic (development only)');
    }
    const aedes = await Aedes.createBroker(this.#aedesOptions());
    // before any client connects: retained lookups per device, not a scan of the fleet's statuses
    new RetainedIndex().install((aedes as unknown as { persistence: RetainedPersistence }).persistence);
    this.#aedes = aedes;
    aedes.on('clientError', (client, err) => this.#log.debug({ clientId: client.id, err: err.message }, 'client error'));
    aedes.on('connectionError', (client, err) => this.#log.debug({ clientId: client.id, err: err.message }, 'connection error'));
    aedes.on('clientReady', (client) => this.#log.debug({ clientId: client.id }, 'client connected'));
    aedes.on('clientDisconnect', (client) => {
      this.#policy.forget(client.id);
      this.#log.debug({ clientId: client.id }, 'client disconnected');
    });
    // client is null for the broker's own $SYS messages
    aedes.on('publish', (_packet, client) => { if (client !== null) this.#received += 1; });

    const tcp = createTcpServer((socket) => aedes.handle(this.#guard(socket, socket.remoteAddress)));
    this.#tcp = tcp;
    const http = createHttpServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n'));
    this.#http = http;
    // One MQTT packet per WebSocket message in practice; the guard below bounds packets split across frames.
    const wss = new WebSocketServer({ server: http, maxPayload: MAX_PACKET_BYTES });
    this.#wss = wss;
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', (err) => this.#log.debug({ err: err.message }, 'websocket stream error'));
      aedes.handle(this.#guard(stream, req.socket.remoteAddress), req);
    });
    wss.on('error', (err) => this.#log.error({ err }, 'websocket server error'));

    const mqtt = await listen(tcp, this.#options.mqttPort, this.#options.host);
    const ws = await listen(http, this.#options.wsPort, this.#options.host);
    this.#ports = { mqtt, ws, ...(await this.#startTls(aedes)) };
    this.#log.info({ ...this.#ports, host: this.#options.host }, 'broker listening');
  }

  openToDevices(): void {
    this.#open = true;
    this.#log.info({}, 'broker open to devices');
  }

  async closeToDevices(): Promise<void> {
    this.#open = false;
    const devices = this.#clients().filter((c) => c.id !== CONTROLLER_CLIENT_ID);
    await Promise.all(devices.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))));
    this.#log.info({ disconnected: devices.length }, 'broker closed to devices');
  }

  /** Drops one client's connection (its last will fires); false when no such client is connected. */
  async disconnect(clientId: string): Promise<boolean> {
    const client = (this.#aedes as unknown as AedesInternals | undefined)?.clients[clientId];
    if (client === undefined) return false;
    await new Promise<void>((resolve) => client.close(() => resolve()));
    return true;
  }

  async stop(): Promise<void> {
    this.#open = false;
    const aedes = this.#aedes;
    this.#aedes = undefined;
    if (aedes !== undefined) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const client of this.#wss?.clients ?? []) client.terminate();
    this.#wss?.close();
    this.#http?.closeAllConnections();
    await Promise.all([close(this.#tcp), close(this.#http), close(this.#tls)]);
    this.#log.info({}, 'broker stopped');
  }

  linkOptions(): LinkConnectOptions {
    if (this.#ports === undefined) throw new PdmError('INTERNAL', 'broker is not started');
    return { url: `mqtt://${this.connectHost()}:${this.#ports.mqtt}`, clientId: CONTROLLER_CLIENT_ID, username: CONTROLLER_CLIENT_ID, password: this.#secret };
  }

  /** The host part of a URL reaching this broker: a wildcard bind address is not a destination, loopback is. */
  connectHost(): string {
    const host = this.#options.host;
    const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    return isIPv6(target) ? `[${target}]` : target;
  }

  health(): Health {
    if (this.#aedes === undefined || this.#aedes.closed) return { ok: false, detail: 'not running' };
    if (!this.#open) return { ok: false, detail: 'not accepting devices' };
    return { ok: true, detail: `${this.#aedes.connectedClients} clients` };
  }

  takeUpstream(handler: MessageHandler): boolean {
    this.#upstream = handler;
    return true;
  }

  stats(): BrokerStats | undefined {
    if (this.#aedes === undefined) return undefined;
    return {
      clients: this.#aedes.connectedClients, received: this.#received, sent: this.#sent,
      refused: this.#policy.refusals(), throttled: this.#policy.throttled,
    };
  }

  #aedesOptions(): AedesOptions {
    const hooks = this.#policy.hooks();
    return {
      // called once per delivery to a subscriber: counts what goes out, forwards it unchanged
      authorizeForward: (_client, packet) => { this.#sent += 1; return packet; },
      concurrency: this.#options.concurrency,
      drainTimeout: this.#options.drainTimeoutMs,
      maxClientsIdLength: MAX_CLIENT_ID_LENGTH,
      ...hooks,
      // the policy first (a refused publish closes the connection), then ingest, then the PUBACK
      authorizePublish: (client, packet, callback) => {
        // parsed once, here: the ACL, ingest and the metrics label use this one parse (LinkMessage.parsed)
        const parsed = parseTopic(packet.topic);
        this.#policy.authorizePublish(client, packet.topic, parsed, (err) => {
          if (err !== null && err !== undefined) callback(err);
          else this.#intake(client, packet, parsed, callback);
        });
      },
    };
  }

  /** A device's publish on an upstream topic goes to ingest; aedes acknowledges it once ingest has handled it. */
  #intake(client: Client | null, packet: PublishPacket, parsed: ParsedTopic | undefined, callback: (error?: Error | null) => void): void {
    const upstream = this.#upstream;
    if (upstream === undefined || client?.id === CONTROLLER_CLIENT_ID || !isUpstream(packet.topic, parsed)) return callback(null);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    // a device's RETAIN asks the broker to keep it; to ingest it is live news, as a subscriber would see it [MQTT-3.3.1-9]
    const message: LinkMessage = { topic: packet.topic, parsed, payload, retain: false };
    const started = performance.now();
    let handling: void | Promise<void>;
    try {
      handling = upstream(message);
    } catch (err) {
      handling = Promise.reject(err);
    }
    // ingest's own promise, not one more around it: a promise and its microtask hops per message
    Promise.resolve(handling).then(() => {
      this.#options.observer?.handled(message, (performance.now() - started) / 1000, true);
      callback(null);
    }, (err: unknown) => {
      this.#options.observer?.handled(message, (performance.now() - started) / 1000, false);
      this.#log.warn({ err, clientId: client?.id ?? null, topic: packet.topic.slice(0, 200) }, 'device publish not processed; connection closed unacknowledged');
      callback(err instanceof Error ? err : new PdmError('INTERNAL', 'ingest failed', { cause: err }));
    });
  }

  async #startTls(aedes: Aedes): Promise<{ mqtts?: number }> {
    const options = this.#options.tls;
    if (options === undefined) return {};
    const tls = createTlsListener(options, (socket) => {
      const guarded = this.#guard(socket, socket.remoteAddress);
      this.#tlsSockets.set(guarded, socket);
      aedes.handle(guarded);
    }, this.#log);
    this.#tls = tls;
    return { mqtts: await listen(tls, options.port, this.#options.host) };
  }

  #peerCertificate(client: Client): PeerCertificate | undefined {
    const socket = this.#tlsSockets.get(client.conn);
    if (socket === undefined) return undefined;
    const cert = socket.getPeerCertificate();
    // an empty object when the client sent no certificate
    if (cert === null || Object.keys(cert).length === 0) return undefined;
    const cn = cert.subject?.CN;
    return { authorized: socket.authorized, commonName: Array.isArray(cn) ? undefined : cn };
  }

  /** Connected clients but the controller's link and `clientId`'s own earlier session: O(1) per CONNECT. */
  #otherDevices(clientId: string): number {
    const aedes = this.#aedes;
    if (aedes === undefined) return 0;
    const clients = (aedes as unknown as AedesInternals).clients;
    return aedes.connectedClients - (clients[CONTROLLER_CLIENT_ID] === undefined ? 0 : 1) - (clients[clientId] === undefined ? 0 : 1);
  }

  #clients(): Client[] {
    return Object.values((this.#aedes as unknown as AedesInternals | undefined)?.clients ?? {});
  }

  #guard(stream: Duplex, remote: string | undefined): PacketSizeGuard {
    return new PacketSizeGuard(stream, MAX_PACKET_BYTES, (announced) => {
      this.#policy.count('packet-too-large');
      this.#log.warn({ code: 'PAYLOAD_TOO_LARGE', remote: remote ?? null, announced, limit: MAX_PACKET_BYTES }, 'oversized MQTT packet; connection closed');
    });
  }
}

/**
 * What the controller used to subscribe to (`allDevicesFilter` of each upstream kind): a pdm upstream
 * topic, or one whose device level is no valid deviceId, which ingest counts as invalid. The second
 * test runs only for what is not a pdm topic.
 */
function isUpstream(topic: string, parsed: ParsedTopic | undefined): boolean {
  return parsed === undefined ? matchesUpstreamFilter(topic) : parsed.direction === 'up';
}

async function listen(server: TcpServer | HttpServer, port: number, host: string): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening'); // rejects on 'error' (e.g. EADDRINUSE)
  return (server.address() as AddressInfo).port;
}

async function close(server: TcpServer | HttpServer | undefined): Promise<void> {
  if (server === undefined || !server.listening) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

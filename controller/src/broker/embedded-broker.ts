/**
 * The embedded MQTT broker: aedes in this process, reachable over TCP and MQTT over WebSocket.
 *
 * Devices are refused (CONNACK "server unavailable") until the controller's ingest has subscribed:
 * aedes acknowledges a QoS 1 PUBLISH before delivering it, and with no subscriber a record would be
 * acknowledged to the device (which then deletes it from its outbox) and dropped. The controller's
 * own link connects with a per-start secret, so no device can take over its client id or session.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, isIPv6, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { PdmError, topicSpecs } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import type { BrokerHost, BrokerPorts, BrokerStats } from './broker-host.js';
import type { Health, LinkConnectOptions } from './broker-link.js';
import { PacketSizeGuard } from './packet-guard.js';

/** Not a valid deviceId (":" is outside DEVICE_ID_PATTERN), so no device can claim it. */
export const CONTROLLER_CLIENT_ID = 'pdm:controller';

// Devices use their deviceId (at most 64 characters, DEVICE_ID_PATTERN) as MQTT client id
// (protocol/README.md); aedes' default limit is 23.
const MAX_CLIENT_ID_LENGTH = 64;

/** Largest MQTT packet accepted: the largest payload of any pdm topic, plus room for topic and headers. */
export const MAX_PACKET_BYTES = Math.max(...Object.values(topicSpecs).map((s) => s.maxBytes)) + 64 * 1024;

// MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2-3]
const SERVER_UNAVAILABLE = 3;
const NOT_AUTHORIZED = 5;

export interface EmbeddedBrokerOptions {
  host: string;
  mqttPort: number;
  wsPort: number;
  drainTimeoutMs: number;
  concurrency: number;
}

interface AedesInternals {
  clients: Record<string, Client>;
}

export class EmbeddedBroker implements BrokerHost {
  readonly #options: EmbeddedBrokerOptions;
  readonly #log: Logger;
  #aedes: Aedes | undefined;
  #tcp: TcpServer | undefined;
  #http: HttpServer | undefined;
  #wss: WebSocketServer | undefined;
  #secret = '';
  #open = false;
  #ports: BrokerPorts | undefined;
  #received = 0;
  #sent = 0;

  constructor(options: EmbeddedBrokerOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
  }

  get ports(): BrokerPorts | undefined {
    return this.#ports;
  }

  async start(): Promise<void> {
    this.#secret = randomBytes(24).toString('base64url');
    const aedes = await Aedes.createBroker(this.#aedesOptions());
    this.#aedes = aedes;
    aedes.on('clientError', (client, err) => this.#log.debug({ clientId: client.id, err: err.message }, 'client error'));
    aedes.on('connectionError', (client, err) => this.#log.debug({ clientId: client.id, err: err.message }, 'connection error'));
    aedes.on('clientReady', (client) => this.#log.debug({ clientId: client.id }, 'client connected'));
    aedes.on('clientDisconnect', (client) => this.#log.debug({ clientId: client.id }, 'client disconnected'));
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
    this.#ports = { mqtt, ws };
    this.#log.info({ mqttPort: mqtt, wsPort: ws, host: this.#options.host }, 'broker listening');
  }

  openToDevices(): void {
    this.#open = true;
    this.#log.info({}, 'broker open to devices');
  }

  async closeToDevices(): Promise<void> {
    this.#open = false;
    const clients = Object.values((this.#aedes as unknown as AedesInternals | undefined)?.clients ?? {});
    const devices = clients.filter((c) => c.id !== CONTROLLER_CLIENT_ID);
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
    await Promise.all([close(this.#tcp), close(this.#http)]);
    this.#log.info({}, 'broker stopped');
  }

  linkOptions(): LinkConnectOptions {
    if (this.#ports === undefined) throw new PdmError('INTERNAL', 'broker is not started');
    const host = this.#options.host;
    // A wildcard bind address is not a destination: connect over loopback instead.
    const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    return {
      url: `mqtt://${isIPv6(target) ? `[${target}]` : target}:${this.#ports.mqtt}`,
      clientId: CONTROLLER_CLIENT_ID,
      username: CONTROLLER_CLIENT_ID,
      password: this.#secret,
    };
  }

  health(): Health {
    if (this.#aedes === undefined || this.#aedes.closed) return { ok: false, detail: 'not running' };
    if (!this.#open) return { ok: false, detail: 'not accepting devices' };
    return { ok: true, detail: `${this.#aedes.connectedClients} clients` };
  }

  stats(): BrokerStats | undefined {
    if (this.#aedes === undefined) return undefined;
    return { clients: this.#aedes.connectedClients, received: this.#received, sent: this.#sent };
  }

  #aedesOptions(): AedesOptions {
    return {
      // called once per delivery to a subscriber: counts what goes out, forwards it unchanged
      authorizeForward: (_client, packet) => { this.#sent += 1; return packet; },
      concurrency: this.#options.concurrency,
      drainTimeout: this.#options.drainTimeoutMs,
      maxClientsIdLength: MAX_CLIENT_ID_LENGTH,
      authenticate: (client, username, password, done) => {
        if (client.id === CONTROLLER_CLIENT_ID) {
          const ok = username === CONTROLLER_CLIENT_ID && password !== undefined && this.#secretMatches(password);
          return ok ? done(null, true) : done(refusal(NOT_AUTHORIZED, 'controller client id is reserved'), null);
        }
        if (!this.#open) return done(refusal(SERVER_UNAVAILABLE, 'controller is not ready for devices'), null);
        done(null, true);
      },
    };
  }

  #guard(stream: Duplex, remote: string | undefined): PacketSizeGuard {
    return new PacketSizeGuard(stream, MAX_PACKET_BYTES, (announced) => {
      this.#log.warn({ code: 'PAYLOAD_TOO_LARGE', remote: remote ?? null, announced, limit: MAX_PACKET_BYTES }, 'oversized MQTT packet; connection closed');
    });
  }

  #secretMatches(password: Buffer): boolean {
    const expected = Buffer.from(this.#secret);
    return password.length === expected.length && timingSafeEqual(password, expected);
  }
}

function refusal(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new PdmError('LINK_FAILED', message, { context: { returnCode } }), { returnCode });
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

/**
 * Who may connect to the embedded broker and what each client may do: aedes' `authenticate`,
 * `authorizePublish` and `authorizeSubscribe` hooks (STYLE.md: broker policy goes through the hooks).
 *
 * - The controller's own link uses a reserved client id (not a valid deviceId) and a per-start secret.
 * - A device's client id is its deviceId. It proves it with a client certificate whose CN is the
 *   deviceId (TLS listener) or with username = deviceId and its enrolled password; a revoked or
 *   unknown device is refused. `deviceAuth: "none"` (development, benchmarks) lets any client in and
 *   checks no topics.
 * - Publishes and subscriptions follow device-acl.ts. A refused PUBLISH closes the connection: MQTT
 *   3.1.1 cannot tell the client [MQTT-3.3.5-2], and acknowledging it would let the agent delete the
 *   record from its outbox as if delivered. A refused SUBSCRIBE gets return code 0x80 [MQTT-3.9.3].
 * - Publish rate per client: publish-limiter.ts (held back, never dropped).
 */
import { timingSafeEqual } from 'node:crypto';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import { PdmError, isValidDeviceId, type ParsedTopic } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import { maySubscribe, publishRefusal } from './device-acl.js';
import { PublishLimiter, type PublishLimits } from './publish-limiter.js';

/** Not a valid deviceId (":" is outside DEVICE_ID_PATTERN), so no device can claim it. */
export const CONTROLLER_CLIENT_ID = 'pdm:controller';

export type DeviceAuth = 'credentials' | 'none';

// MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2-3]
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

const THROTTLE_WARN_INTERVAL_MS = 60_000;

/** Why the broker refused something; the label of pdm_broker_refused_total. */
export const refusalReasons = [
  'not-ready', 'max-connections', 'reserved-client-id', 'invalid-client-id', 'no-credentials', 'bad-credentials',
  'bad-certificate', 'publish-not-pdm-topic', 'publish-other-device', 'publish-downstream-topic', 'subscribe-not-allowed',
  'packet-too-large',
] as const;
export type RefusalReason = (typeof refusalReasons)[number];

/** What the policy asks of the device registry (src/devices/enrollment.ts). */
export interface DeviceCredentials {
  verify(deviceId: string, password: Buffer): Promise<boolean>;
  isActive(deviceId: string): boolean;
}

/** A client certificate presented on the TLS listener. */
export interface PeerCertificate {
  /** The CA verified it. */
  authorized: boolean;
  commonName: string | undefined;
}

export interface BrokerPolicyOptions {
  deviceAuth: DeviceAuth;
  /** Devices connected at once, at most; the controller's link is not counted. */
  maxConnections: number;
  limits: PublishLimits;
}

export interface BrokerPolicyDeps {
  credentials: DeviceCredentials;
  /** The controller link's per-start secret. */
  controllerSecret: () => string;
  /** Devices may connect (ingest is listening). */
  open: () => boolean;
  /** Connected clients other than the controller link and other than `clientId` (a takeover is not one more). */
  otherDevices: (clientId: string) => number;
  peerCertificate: (client: Client) => PeerCertificate | undefined;
  log: Logger;
  now?: () => number;
}

export class BrokerPolicy {
  readonly #options: BrokerPolicyOptions;
  readonly #deps: BrokerPolicyDeps;
  readonly #limiter: PublishLimiter;
  readonly #throttleWarned = new Map<string, number>();
  readonly #refused = new Map<RefusalReason, number>(refusalReasons.map((r) => [r, 0]));
  #throttled = 0;

  constructor(options: BrokerPolicyOptions, deps: BrokerPolicyDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#limiter = new PublishLimiter(options.limits);
  }

  /** Refusals by reason since start (connections, publishes, subscriptions, oversized packets). */
  refusals(): Readonly<Record<RefusalReason, number>> {
    return Object.fromEntries(this.#refused) as Record<RefusalReason, number>;
  }

  /** Publishes held back by the rate limit since start. */
  get throttled(): number {
    return this.#throttled;
  }

  count(reason: RefusalReason): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
  }

  forget(clientId: string): void {
    this.#limiter.forget(clientId);
    this.#throttleWarned.delete(clientId);
  }

  /** aedes' hooks but authorizePublish, which the broker calls with the topic it parsed (authorizePublish below). */
  hooks(): Pick<AedesOptions, 'authenticate' | 'authorizeSubscribe'> {
    return {
      authenticate: (client, username, password, done) => {
        this.#authenticate(client, username, password).then(
          (refusal) => (refusal === undefined ? done(null, true) : done(refusal, null)),
          (err: unknown) => done(withReturnCode(new PdmError('INTERNAL', 'authentication failed', { cause: err }), SERVER_UNAVAILABLE), null),
        );
      },
      authorizeSubscribe: (client, sub, callback) => {
        if (client.id === CONTROLLER_CLIENT_ID || this.#options.deviceAuth === 'none' || maySubscribe(client.id, sub.topic)) {
          return callback(null, sub);
        }
        this.#refuse('subscribe-not-allowed', client.id, { filter: sub.topic.slice(0, 256) });
        callback(null, null); // granted QoS 0x80 for this filter [MQTT-3.9.3-2]
      },
    };
  }

  async #authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | undefined> {
    if (client.id === CONTROLLER_CLIENT_ID) {
      const ok = username === CONTROLLER_CLIENT_ID && password !== undefined && this.#secretMatches(password);
      return ok ? undefined : this.#refusal('reserved-client-id', client.id, NOT_AUTHORIZED, 'controller client id is reserved');
    }
    if (!this.#deps.open()) {
      this.count('not-ready'); // expected while the controller starts or stops: counted, not logged
      return refusal(SERVER_UNAVAILABLE, 'controller is not ready for devices');
    }
    if (this.#deps.otherDevices(client.id) >= this.#options.maxConnections) {
      return this.#refusal('max-connections', client.id, SERVER_UNAVAILABLE, 'broker is at its maximum number of connections');
    }
    if (this.#options.deviceAuth === 'none') return undefined;
    if (!isValidDeviceId(client.id)) return this.#refusal('invalid-client-id', client.id, IDENTIFIER_REJECTED, 'client id is not a deviceId');
    const cert = this.#deps.peerCertificate(client);
    if (cert !== undefined) return this.#certificateRefusal(client.id, cert);
    if (username === undefined || password === undefined) {
      return this.#refusal('no-credentials', client.id, NOT_AUTHORIZED, 'a device needs its deviceId as username and its password');
    }
    if (username !== client.id || !(await this.#deps.credentials.verify(client.id, password))) {
      return this.#refusal('bad-credentials', client.id, BAD_USERNAME_OR_PASSWORD, 'unknown device, revoked device or wrong password');
    }
    return undefined;
  }

  /** A client certificate replaces the password; its CN must be the client id of an enrolled, active device. */
  #certificateRefusal(clientId: string, cert: PeerCertificate): AuthenticateError | undefined {
    if (cert.authorized && cert.commonName === clientId && this.#deps.credentials.isActive(clientId)) return undefined;
    return this.#refusal('bad-certificate', clientId, NOT_AUTHORIZED, 'client certificate is not valid for this device', {
      authorized: cert.authorized, commonName: cert.commonName ?? null,
    });
  }

  /**
   * aedes' authorizePublish for one PUBLISH. `parsed`: parseTopic(topic), made once per message by the
   * broker, which hands it on to ingest as well.
   */
  authorizePublish(client: Client | null, topic: string, parsed: ParsedTopic | undefined, callback: (error?: Error | null) => void): void {
    // client is null for the will of a client that is gone; its topic was checked when it connected and published it
    if (client === null || client.id === CONTROLLER_CLIENT_ID) return callback(null);
    if (topic.startsWith('$SYS')) return callback(new PdmError('TOPIC_DIRECTION', '$SYS topics are reserved')); // aedes' default, kept
    if (this.#options.deviceAuth === 'credentials') {
      const refused = publishRefusal(client.id, parsed);
      if (refused !== undefined) {
        this.#refuse(`publish-${refused}`, client.id, { topic: topic.slice(0, 256) });
        return callback(new PdmError('TOPIC_DIRECTION', 'topic is not one this device may publish to', { context: { deviceId: client.id } }));
      }
    }
    const now = this.#now();
    const wait = this.#limiter.take(client.id, now);
    if (wait === 0) return callback(null);
    this.#throttled += 1;
    const warned = this.#throttleWarned.get(client.id);
    if (warned === undefined || now - warned >= THROTTLE_WARN_INTERVAL_MS) {
      this.#throttleWarned.set(client.id, now);
      this.#deps.log.warn({ deviceId: client.id, waitMs: wait, ...this.#options.limits }, 'device over its publish rate; holding its publishes');
    }
    setTimeout(() => callback(null), wait).unref();
  }

  #refusal(reason: RefusalReason, clientId: string, returnCode: number, message: string, context: Record<string, unknown> = {}): AuthenticateError {
    this.#refuse(reason, clientId, context);
    return refusal(returnCode, message);
  }

  #refuse(reason: RefusalReason, clientId: string, context: Record<string, unknown>): void {
    this.count(reason);
    this.#deps.log.warn({ deviceId: clientId.slice(0, 128), reason, ...context }, 'broker refused a client');
  }

  #secretMatches(password: Buffer): boolean {
    const expected = Buffer.from(this.#deps.controllerSecret());
    return password.length === expected.length && timingSafeEqual(password, expected);
  }

  /** Runs for every publish: no function bound per call. */
  #now(): number {
    return this.#deps.now === undefined ? performance.now() : this.#deps.now();
  }
}

function refusal(returnCode: number, message: string): AuthenticateError {
  return withReturnCode(new PdmError('LINK_FAILED', message, { context: { returnCode } }), returnCode);
}

function withReturnCode(err: PdmError, returnCode: number): AuthenticateError {
  return Object.assign(err, { returnCode });
}

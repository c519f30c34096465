/**
 * An MQTT broker the controller does not run (Mosquitto, EMQX, HiveMQ): this part only knows how to
 * reach it. Nothing listens on an MQTT port here, and the controller cannot shut devices out: the
 * broker's own authentication and ACLs decide who gets in.
 *
 * Delivery without the embedded broker's gate rests on the link's persistent MQTT 5 session: what
 * devices publish while this instance is down (or stopping) is queued in the broker for its client
 * id, up to the session expiry and the broker's queue limit (Mosquitto: max_queued_messages, which
 * drops silently beyond it: raise it), and handled when the instance comes back.
 */
import { readFile } from 'node:fs/promises';
import { PdmError } from '@pdm/protocol';
import type { Logger } from '../logger.js';
import type { BrokerHost, BrokerPorts } from './broker-host.js';
import type { Health, LinkConnectOptions, LinkTls } from './broker-link.js';

export interface ExternalBrokerOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  passwordFile?: string | undefined;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  rejectUnauthorized: boolean;
  sessionExpirySec: number;
  sharedGroup?: string | undefined;
}

export class ExternalBroker implements BrokerHost {
  readonly #options: ExternalBrokerOptions;
  readonly #log: Logger;
  #link: LinkConnectOptions | undefined;

  constructor(options: ExternalBrokerOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
  }

  /** The configured URL; validated to hold no credentials, so it may be logged. */
  get url(): string {
    return this.#options.url;
  }

  get ports(): BrokerPorts | undefined {
    return undefined;
  }

  /** Reads the password and TLS files, so a missing or unreadable one stops the start with its name. */
  async start(): Promise<void> {
    const o = this.#options;
    const password = o.passwordFile === undefined ? o.password : (await readSecret(o.passwordFile, 'brokerPasswordFile')).toString('utf8').replace(/\r?\n$/, '');
    const tls = o.caFile === undefined && o.certFile === undefined && !o.url.startsWith('mqtts:') && !o.url.startsWith('wss:')
      ? undefined
      : await this.#tls();
    this.#link = {
      url: o.url,
      clientId: o.clientId,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(password === undefined ? {} : { password }),
      protocolVersion: 5,
      sessionExpirySec: o.sessionExpirySec,
      ...(o.sharedGroup === undefined ? {} : { sharedGroup: o.sharedGroup }),
      ...(tls === undefined ? {} : { tls }),
    };
    this.#log.info({ url: o.url, clientId: o.clientId, sharedGroup: o.sharedGroup ?? null, tls: tls !== undefined }, 'external broker configured');
  }

  async stop(): Promise<void> {
    this.#link = undefined;
  }

  /** Devices connect to the external broker on their own; nothing to open. */
  openToDevices(): void {}

  /** Nothing to close either: what arrives from now on waits in this instance's session. */
  async closeToDevices(): Promise<void> {}

  async disconnect(_clientId: string): Promise<boolean> {
    return false;
  }

  linkOptions(): LinkConnectOptions {
    if (this.#link === undefined) throw new PdmError('INTERNAL', 'external broker part is not started');
    return this.#link;
  }

  /** The link's health says whether the broker is reachable. */
  health(): Health {
    return this.#link === undefined ? { ok: false, detail: 'not started' } : { ok: true, detail: `external ${this.#options.url}` };
  }

  /** Mosquitto's PUBACK to a device is its own affair: ingest subscribes (shared) through the link. */
  takeUpstream(): boolean {
    return false;
  }

  /** The broker's own counts are its business (Mosquitto publishes them under $SYS). */
  stats(): undefined {
    return undefined;
  }

  async #tls(): Promise<LinkTls> {
    const o = this.#options;
    const [ca, cert, key] = await Promise.all([
      o.caFile === undefined ? undefined : readSecret(o.caFile, 'brokerCaFile'),
      o.certFile === undefined ? undefined : readSecret(o.certFile, 'brokerCertFile'),
      o.keyFile === undefined ? undefined : readSecret(o.keyFile, 'brokerKeyFile'),
    ]);
    return {
      rejectUnauthorized: o.rejectUnauthorized,
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    };
  }
}

async function readSecret(file: string, field: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new PdmError('CONFIG_INVALID', `${field}: cannot be read`, { cause: err, context: { field, file, errno: (err as NodeJS.ErrnoException).code ?? null } });
  }
}

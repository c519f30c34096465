/**
 * The embedded broker's MQTT-over-TLS listener. Client certificates (`clientCerts`):
 * - "none": TLS only; devices log in with their password;
 * - "optional": a device may present a certificate signed by `caFile` instead of a password; one that
 *   does not verify is refused by the broker policy, not silently ignored;
 * - "required": the TLS handshake itself refuses a client without a certificate signed by `caFile`.
 * The certificate's CN is the deviceId (broker-policy.ts).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { PdmError } from '@pdm/protocol';
import type { Logger } from '../logger.js';

export type ClientCertMode = 'none' | 'optional' | 'required';

export interface BrokerTlsOptions {
  port: number;
  certFile: string;
  keyFile: string;
  /** CA(s) that sign device certificates; required unless clientCerts is "none". */
  caFile?: string | undefined;
  clientCerts: ClientCertMode;
}

export function createTlsListener(options: BrokerTlsOptions, onSocket: (socket: TLSSocket) => void, log: Logger): Server {
  const askCert = options.clientCerts !== 'none';
  if (askCert && options.caFile === undefined) {
    throw new PdmError('CONFIG_INVALID', 'client certificates need a CA file to verify them against', { context: { clientCerts: options.clientCerts } });
  }
  const server = createServer({
    cert: readPem(options.certFile, 'certificate'),
    key: readPem(options.keyFile, 'private key'),
    ...(options.caFile === undefined ? {} : { ca: readPem(options.caFile, 'CA certificate') }),
    requestCert: askCert,
    rejectUnauthorized: options.clientCerts === 'required',
  }, onSocket);
  server.on('tlsClientError', (err, socket) => log.debug({ err: err.message, remote: socket.remoteAddress ?? null }, 'TLS handshake failed'));
  return server;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PdmError('CONFIG_INVALID', `cannot read the broker TLS ${what}`, { cause: err, context: { file } });
  }
}

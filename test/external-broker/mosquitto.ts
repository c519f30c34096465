/**
 * Debian's Mosquitto as the external broker for tests: started by the test itself with a config in a
 * temp dir, on free ports, stopped at the end. Optional users (password file) and a TLS listener that
 * requires client certificates.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestCerts } from './certs.js';

export interface Mosquitto {
  url: string;
  /** mqtts:// listener requiring a client certificate (when started with certs). */
  tlsUrl?: string;
  /** What the broker printed (notice level and up). */
  log: string[];
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  dir: string;
  users?: Record<string, string>;
  tls?: TestCerts;
}

/** A free TCP port on loopback (closed again before mosquitto binds it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startMosquitto(o: MosquittoOptions): Promise<Mosquitto> {
  const port = await freePort();
  const tlsPort = o.tls === undefined ? undefined : await freePort();
  const conf = [
    'per_listener_settings false',
    // devices connect anonymously in these tests; the controller logs in when users are given
    'allow_anonymous true',
    'persistence false',
    // Mosquitto drops silently past 1000 queued messages per client by default
    'max_queued_messages 100000',
    'log_dest stderr',
    'log_type error', 'log_type warning', 'log_type notice', 'log_type information',
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    `listener ${port} 127.0.0.1`,
  ];
  if (o.users !== undefined) {
    const file = join(o.dir, 'passwd');
    writeFileSync(file, '');
    for (const [user, password] of Object.entries(o.users)) execFileSync('mosquitto_passwd', ['-b', file, user, password]);
    chmodSync(file, 0o600);
    conf.push(`password_file ${file}`);
  }
  if (o.tls !== undefined) {
    conf.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${o.tls.caFile}`, `certfile ${o.tls.serverCertFile}`, `keyfile ${o.tls.serverKeyFile}`,
      'require_certificate true');
  }
  const confFile = join(o.dir, 'mosquitto.conf');
  writeFileSync(confFile, `${conf.join('\n')}\n`);

  const child = spawn('mosquitto', ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await running(child, log, exited);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    ...(tlsPort === undefined ? {} : { tlsUrl: `mqtts://127.0.0.1:${tlsPort}` }),
    log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Resolves once mosquitto says it runs; rejects with its output if it exits or takes too long. */
function running(child: ChildProcess, log: string[], exited: Promise<number | null>): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mosquitto did not start in 5 s:\n${log.join('\n')}`)), 5000);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      log.push(line);
      if (/mosquitto version \S+ running/.test(line)) { clearTimeout(timer); resolve(); }
    });
    child.once('error', (err) => { clearTimeout(timer); reject(new Error(`mosquitto could not be started (apt-get install mosquitto): ${err.message}`)); });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`mosquitto exited with ${code}:\n${log.join('\n')}`)); });
  });
}

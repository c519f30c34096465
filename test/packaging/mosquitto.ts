/**
 * Debian's mosquitto running the shipped deploy/mosquitto config on a free port, for tests. The copy
 * differs from the shipped file only where a test machine must: the /mosquitto/ paths point into a
 * temp dir, the listener is on a free loopback port, and `user` keeps a root-started broker from
 * dropping to the mosquitto user (which could not write the temp dir). Each rewrite must match
 * exactly once, so a reshaped shipped config fails here instead of being tested half-applied.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/fleet.js';

export const mosquittoDir = join(repoRoot, 'deploy/mosquitto');

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** The shipped mosquitto.conf with the test machine's paths, port and user. */
export function testConfig(dir: string, port: number): string {
  let text = readFileSync(join(mosquittoDir, 'mosquitto.conf'), 'utf8');
  const rewrite = (from: RegExp, to: string): void => {
    const hits = text.match(new RegExp(from.source, 'gm'))?.length ?? 0;
    if (hits !== 1) throw new Error(`deploy/mosquitto/mosquitto.conf: expected one line matching ${from}, found ${hits}`);
    text = text.replace(new RegExp(from.source, 'm'), to);
  };
  rewrite(/^listener 1883$/, `listener ${port} 127.0.0.1`);
  rewrite(/^password_file \/mosquitto\/config\/passwd$/, `password_file ${dir}/config/passwd`);
  rewrite(/^acl_file \/mosquitto\/config\/acl$/, `acl_file ${dir}/config/acl`);
  rewrite(/^persistence_location \/mosquitto\/data\/$/, `persistence_location ${dir}/data/`);
  // a file, not a pipe: mosquitto's stdout is block-buffered, and tests read the log
  rewrite(/^log_dest stdout$/, `log_dest file ${dir}/mosquitto.log`);
  return `${text}\nuser ${userInfo().username}\n`;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class Mosquitto {
  private child: ChildProcess | undefined;
  readonly log: string[] = [];
  readonly url: string;

  private constructor(readonly dir: string, readonly port: number) {
    this.url = `mqtt://127.0.0.1:${port}`;
  }

  /** Lays out config (shipped acl, passwords made by make-credentials.sh for `users`) and data dirs. */
  static async prepare(dir: string, users: readonly string[]): Promise<Mosquitto> {
    const port = await freePort();
    mkdirSync(join(dir, 'config'), { recursive: true });
    mkdirSync(join(dir, 'data'), { recursive: true });
    copyFileSync(join(mosquittoDir, 'acl'), join(dir, 'config/acl'));
    execFileSync('sh', [join(mosquittoDir, 'make-credentials.sh'), join(dir, 'config'), ...users], { stdio: 'pipe' });
    writeFileSync(join(dir, 'mosquitto.conf'), testConfig(dir, port));
    return new Mosquitto(dir, port);
  }

  /** The log lines saying where it listens, from every start so far. */
  listenLines(): string[] {
    const log = existsSync(join(this.dir, 'mosquitto.log')) ? readFileSync(join(this.dir, 'mosquitto.log'), 'utf8') : '';
    return log.split('\n').filter((l) => /Opening .* listen socket/.test(l));
  }

  password(user: string): string {
    return readFileSync(join(this.dir, 'config', `${user}.password`), 'utf8');
  }

  async start(): Promise<void> {
    const child = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // its stdout is a pipe, so its log lines arrive in blocks: readiness is a TCP connect
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') this.log.push(line);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mosquitto did not start listening on ${this.port}:\n${this.log.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Revokes users the way deploy/mosquitto/make-credentials.sh documents it: their .password files
   * go, the hashed passwd is rebuilt from the rest, and SIGHUP makes mosquitto read it again.
   */
  revoke(users: readonly string[], keep: string): void {
    for (const user of users) rmSync(join(this.dir, 'config', `${user}.password`));
    execFileSync('sh', [join(mosquittoDir, 'make-credentials.sh'), join(this.dir, 'config'), keep], { stdio: 'pipe' });
    this.child?.kill('SIGHUP');
  }

  /** SIGTERM: mosquitto saves its persistence file on the way out. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}

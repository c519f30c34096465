/**
 * A private Mosquitto for a benchmark: Debian's /usr/sbin/mosquitto on a free loopback port, its config
 * in a temp dir, stopped with SIGTERM. Queue limits are raised: at its defaults (1000 queued messages
 * per client) Mosquitto silently drops what a slow subscriber has not taken yet (PLATFORM.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PdmError } from '@pdm/protocol';
import { freePort } from './ports.js';

export class Mosquitto {
  private child: ChildProcess | undefined;
  private dir: string | undefined;
  url = '';

  async start(): Promise<void> {
    const port = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'pdm-bench-mosquitto-'));
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(conf, [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 0',
      'max_queued_bytes 0',
      'max_inflight_messages 0',
      'log_dest stderr',
      'log_type error',
      '',
    ].join('\n'));
    this.child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.url = `mqtt://127.0.0.1:${port}`;
    await waitForPort(port, 10_000);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child !== undefined && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new PdmError('INTERNAL', 'mosquitto did not start listening', { context: { port } });
    await new Promise((r) => setTimeout(r, 50));
  }
}

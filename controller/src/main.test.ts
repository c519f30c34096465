/** pdm-controller as a real process: config errors, the ready line, and a clean stop on a signal. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './testing/temp-dir.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
  // run from sources: the pdm-source condition makes @pdm/protocol resolve to its .ts files, tsx compiles
  return spawn(process.execPath, ['--conditions=pdm-source', '--import', 'tsx', MAIN, ...args], {
    env: { PATH: process.env.PATH, ...env },
  });
}

interface Line { msg: string; [k: string]: unknown }

function lines(child: ChildProcessWithoutNullStreams): { all: Line[]; waitFor: (msg: string, ms?: number) => Promise<Line> } {
  const all: Line[] = [];
  const waiters: { msg: string; resolve: (l: Line) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    all.push(line);
    for (const w of waiters.filter((x) => x.msg === line.msg)) w.resolve(line);
  });
  return {
    all,
    waitFor: (msg, ms = 15_000) => new Promise((resolve, reject) => {
      const found = all.find((l) => l.msg === msg);
      if (found !== undefined) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`no "${msg}" line within ${ms} ms`)), ms);
      waiters.push({ msg, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    }),
  };
}

const exitCode = async (child: ChildProcessWithoutNullStreams): Promise<number | null> =>
  child.exitCode ?? ((await once(child, 'exit', { signal: AbortSignal.timeout(15_000) }))[0] as number | null);

const dirs: { remove: () => void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

describe('pdm-controller process', () => {
  it('exits 2 listing every configuration problem', async () => {
    const child = run(['--http-port', 'x', '--nope', '1'], { PDM_CONTROLLER_MQTT_PORT: '70000', PDM_CONTROLLER_LOG_LEVEL: 'loud' });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    expect(await exitCode(child)).toBe(2);
    expect(stderr).toMatch(/invalid configuration \(4 problem\(s\)\)/);
    for (const part of ['flag --nope', 'httpPort (flag --http-port)', 'mqttPort (env PDM_CONTROLLER_MQTT_PORT)', 'logLevel (env PDM_CONTROLLER_LOG_LEVEL)']) {
      expect(stderr).toContain(part);
    }
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('prints the ready line with real ports and stops in order on %s, exit 0', async (signal) => {
    const dir = tempDir();
    dirs.push(dir);
    const child = run(['--http-port', '0', '--mqtt-port', '0', '--ws-port', '0', '--log-level', 'warn'], { PDM_CONTROLLER_DATA_DIR: dir.path });
    const out = lines(child);
    const ready = await out.waitFor('controller ready');
    expect(ready).toMatchObject({ level: 30, host: '127.0.0.1', brokerMode: 'embedded', dataDir: dir.path });
    for (const key of ['httpPort', 'mqttPort', 'wsPort']) expect(ready[key]).toEqual(expect.any(Number));
    const health = await fetch(`http://127.0.0.1:${ready.httpPort as number}/healthz`);
    expect(health.status).toBe(200);

    child.kill(signal);
    expect(await exitCode(child)).toBe(0);
    // warn level: only the contract line was printed
    expect(out.all.map((l) => l.msg)).toEqual(['controller ready']);
  });

  it('logs its parts stopping in reverse order of starting', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const child = run(['--http-port', '0', '--mqtt-port', '0', '--ws-port', '0', '--data-dir', dir.path]);
    const out = lines(child);
    await out.waitFor('controller ready');
    child.kill('SIGTERM');
    expect(await exitCode(child)).toBe(0);
    const msgs = out.all.map((l) => l.msg);
    const order = ['database open', 'broker listening', 'link connected', 'ingest started', 'broker open to devices',
      'http listening', 'controller ready', 'controller stopping', 'http stopped', 'broker closed to devices', 'ingest stopped',
      'link stopped', 'broker stopped', 'database closed', 'controller stopped'];
    expect(msgs.filter((m) => order.includes(m))).toEqual(order);
  });
});

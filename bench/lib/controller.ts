/**
 * The built controller (controller/dist/main.js) in its own process for a benchmark, read through the
 * e2e helpers' Program (pino lines). Device authentication is switched off when this controller has the switch
 * (`--device-auth none`, for development and benchmarks): the simulated devices hold no credentials.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { controllerMain } from '../../test/helpers/fleet.js';
import { Program } from '../../test/helpers/process.js';

let helpText: string | undefined;

/** True when this build of the controller knows `--device-auth`. */
export function controllerHasDeviceAuth(): boolean {
  helpText ??= execFileSync(process.execPath, [controllerMain, '--help'], { encoding: 'utf8' });
  return helpText.includes('--device-auth');
}

export interface BenchController {
  readonly program: Program;
  readonly dataDir: string;
  readonly httpUrl: string;
  /** Where devices connect: the embedded broker, or the external broker the controller uses. */
  readonly mqttUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts controller/dist/main.js on free ports (like test/helpers/fleet.ts startController, plus node
 * flags). PDM_BENCH_CPU_PROF=<dir>: it writes a V8 CPU profile there when it stops.
 */
export async function startBenchController(options: { dataDir: string; extraArgs?: string[]; env?: Record<string, string>; readyTimeoutMs?: number }): Promise<BenchController> {
  mkdirSync(options.dataDir, { recursive: true });
  const prof = process.env['PDM_BENCH_CPU_PROF'];
  const program = new Program('controller', {
    args: [
      ...(prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`]),
      controllerMain,
      '--data-dir', options.dataDir, '--host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0', '--ws-port', '0',
      ...(controllerHasDeviceAuth() ? ['--device-auth', 'none'] : []),
      ...(options.extraArgs ?? []),
    ],
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  let ready;
  try {
    ready = await program.waitFor('controller ready', options.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await program.stop('SIGKILL');
    throw err;
  }
  return {
    program,
    dataDir: options.dataDir,
    httpUrl: `http://127.0.0.1:${String(ready['httpPort'])}`,
    mqttUrl: ready['brokerMode'] === 'external' ? String(ready['brokerUrl']) : `mqtt://127.0.0.1:${String(ready['mqttPort'])}`,
    stop: async () => {
      await program.stop('SIGTERM', 60_000);
    },
  };
}

export interface Memory {
  readonly rss: number;
  readonly hwm: number;
  /** Resident anonymous memory (heaps, malloc) and resident file-backed memory (code, mapped files). */
  readonly anon: number;
  readonly file: number;
}

/** Resident, peak resident, anonymous and file-backed resident bytes of a process (Linux /proc). */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** CPU seconds (user + system) a process has used so far (Linux /proc; clock ticks of 100 Hz). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

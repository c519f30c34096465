/**
 * Starts a whole controller in this process on free ports in a temp dir, for tests: real SQLite, real
 * aedes, real mqtt.js link, real fastify.
 */
import { ControllerApp } from '../app.js';
import type { Clock } from '../clock.js';
import { loadConfig, type ControllerConfig } from '../config.js';
import { captureLogs, type LogLine } from './log-capture.js';
import { tempDir } from './temp-dir.js';

export interface TestController {
  app: ControllerApp;
  config: ControllerConfig;
  mqttUrl: string;
  wsUrl: string;
  lines: LogLine[];
  /** Resolves once ingest has handled everything the broker received before this call, counters written. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestController(opts: { clock?: Clock; dataDir?: string; flags?: Partial<Record<keyof ControllerConfig, string>> } = {}): Promise<TestController> {
  const dir = opts.dataDir === undefined ? tempDir() : undefined;
  const config = loadConfig({
    // deviceAuth "none": these tests exercise ingest, commands, rollouts... through the broker with
    // bare test devices; device credentials and ACLs are tested with "credentials" in broker/ and devices/.
    flags: { dataDir: opts.dataDir ?? dir!.path, httpPort: '0', mqttPort: '0', wsPort: '0', logLevel: 'debug', deviceAuth: 'none', ...opts.flags },
  });
  const { log, lines } = captureLogs('debug');
  const app = new ControllerApp({ config, log, ...(opts.clock === undefined ? {} : { clock: opts.clock }) });
  await app.start();
  const ready = app.ready();
  return {
    app, config, lines,
    mqttUrl: `mqtt://127.0.0.1:${ready.mqttPort}`,
    wsUrl: `ws://127.0.0.1:${ready.wsPort}/mqtt`,
    settle: async () => {
      await app.link.flush(5000);
      app.ingest.flushPending();
    },
    stop: async () => {
      await app.stop();
      dir?.remove();
    },
  };
}

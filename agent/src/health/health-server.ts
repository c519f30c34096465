/**
 * The agent's own health on http://127.0.0.1:<healthPort>/health, for systemd and local monitoring.
 * systemd's WatchdogSec= wants sd_notify datagrams on a unix socket, which Node cannot send without a
 * native addon (nodejs/node#29339), so the shipped units poll this instead (agent/packaging/systemd).
 *
 * 200 when the MQTT link is up and the outbox commits; 503 otherwise, with the reasons. Either answer
 * proves the event loop runs: `pdm-agent health` restarts nothing on a 503, since a restart brings no
 * network back, only when there is no answer at all. Bound to loopback only: it reveals counters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Counters } from '../metrics/counters.js';
import type { Outbox } from '../outbox/outbox.js';

/** What the report reads; undefined while the runtime is still being built (model loading). */
export interface HealthSources {
  readonly link: { readonly connected: boolean };
  readonly outbox: Pick<Outbox, 'stats'>;
  readonly counters: Counters;
}

export interface HealthReport {
  readonly status: 'ok' | 'unhealthy';
  /** Why it is unhealthy: "starting", "link down", "outbox commits failing", "outbox unreadable". */
  readonly problems: readonly string[];
  readonly uptimeSeconds: number;
  readonly link: { readonly connected: boolean } | null;
  readonly outbox: { readonly depth: number; readonly bytes: number; readonly lastSeq: number; readonly delivered: number; readonly oldestPendingAgeSeconds: number | null; readonly statesNotStored: number; readonly stateNotStoredSeconds: number | null } | null;
  readonly counters: { readonly readings: number; readonly inferences: number; readonly predictions: number; readonly alerts: number; readonly commitFailures: number } | null;
}

export interface HealthServerDeps {
  /** 0 picks a free port (tests); the bound port is logged and readable as `port`. */
  readonly port: number;
  readonly sources: () => HealthSources | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

/** A commit failure keeps the outbox "failing" this long after it was seen. */
export const COMMIT_FAILURE_WINDOW_MS = 60_000;

export class HealthServer {
  private server: Server | undefined;
  private startedAt = 0;
  private failuresSeen = 0;
  private failingSince: number | undefined;

  constructor(private readonly deps: HealthServerDeps) {}

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    this.startedAt = this.deps.clock.monotonic();
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause) => reject(new PdmError('CONFIG_INVALID', `healthPort ${this.deps.port}: cannot listen on 127.0.0.1`, { cause, context: { port: this.deps.port } })));
      server.listen(this.deps.port, '127.0.0.1', () => resolve());
    });
    this.deps.log.info({ port: this.port }, 'health endpoint listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  report(): HealthReport {
    const now = this.deps.clock.monotonic();
    const uptimeSeconds = Math.round((now - this.startedAt) / 1000);
    const sources = this.deps.sources();
    if (sources === undefined) {
      return { status: 'unhealthy', problems: ['starting'], uptimeSeconds, link: null, outbox: null, counters: null };
    }
    const problems: string[] = [];
    const { counters } = sources;
    if (!sources.link.connected) problems.push('link down');
    if (counters.commitFailures > this.failuresSeen) {
      this.failuresSeen = counters.commitFailures;
      this.failingSince = now;
    }
    if (this.failingSince !== undefined && now - this.failingSince < COMMIT_FAILURE_WINDOW_MS) problems.push('outbox commits failing');
    let outbox: HealthReport['outbox'] = null;
    try {
      const s = sources.outbox.stats();
      const wall = this.deps.clock.now();
      outbox = {
        depth: s.depth, bytes: s.bytes, lastSeq: s.lastSeq, delivered: s.delivered,
        oldestPendingAgeSeconds: secondsSince(s.oldestPendingAt, wall),
        // the restart state (OutboxStats, state-watch.ts): stretches left out, and how long the current one has lasted
        statesNotStored: s.statesNotStored,
        stateNotStoredSeconds: secondsSince(s.stateNotStoredSince, wall),
      };
    } catch {
      problems.push('outbox unreadable');
    }
    return {
      status: problems.length === 0 ? 'ok' : 'unhealthy',
      problems, uptimeSeconds,
      link: { connected: sources.link.connected },
      outbox,
      counters: {
        readings: counters.readings, inferences: counters.inferences, predictions: counters.predictions,
        alerts: counters.alerts, commitFailures: counters.commitFailures,
      },
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/health') return reply(res, 404, { error: 'not found: GET /health' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'method not allowed: GET /health' });
    const report = this.report();
    reply(res, report.status === 'ok' ? 200 : 503, report);
  }
}

/** Whole seconds from `at` (wall-clock ms) to `now`, never negative (a clock stepped back); null without a time. */
function secondsSince(at: number | undefined, now: number): number | null {
  return at === undefined ? null : Math.max(0, Math.round((now - at) / 1000));
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

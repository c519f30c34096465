/**
 * The action of `act` mode (FIELD.md: "automated action on high-confidence cases, human-in-the-loop
 * below a confidence threshold"): an alert whose score passes `actions.confidenceThreshold` in the
 * model's direction (>= for alert-above, <= for alert-below) is `triggered`: its record, as committed
 * to the outbox, is POSTed as JSON to `actions.url` (e.g. a CMMS work-order endpoint). Below the
 * threshold, or with no URL configured, the alert asks for `review` by a person.
 *
 * The alert record is committed first, so the controller learns of it whatever happens to the POST.
 * The POST itself is retried with backoff on network errors, timeouts and 5xx (not on 4xx: the
 * endpoint refused it), `actions.retries` times, and carries an `Idempotency-Key` of deviceId:seq so
 * the endpoint can drop a repeat. It is not kept across restarts: an action cut off by a restart is
 * logged and counted as not done, never retried twice from two processes.
 */
import type { Logger } from 'pino';
import type { FeatureSpec } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { backoffDelay } from '../link/backoff.js';

export interface ActionConfig {
  readonly url?: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly confidenceThreshold: number;
  readonly timeoutMs: number;
  readonly retries: number;
}

export interface ActionDeps {
  readonly config: ActionConfig;
  readonly deviceId: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly random?: () => number;
}

export interface ActionStats {
  readonly triggered: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** Decides and runs actions for alerts of a model deployed in `act` mode. */
export interface ActionSink {
  decide(score: number, spec: Pick<FeatureSpec, 'alertWhen'>): 'triggered' | 'review';
  /** Starts the action for a committed alert (its payload as published). */
  trigger(seq: number, payload: Buffer): void;
}

export class HttpAction implements ActionSink {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private counts = { triggered: 0, succeeded: 0, failed: 0 };

  constructor(private readonly deps: ActionDeps) {}

  stats(): ActionStats {
    return { ...this.counts };
  }

  decide(score: number, spec: Pick<FeatureSpec, 'alertWhen'>): 'triggered' | 'review' {
    const { url, confidenceThreshold } = this.deps.config;
    if (url === undefined) return 'review';
    const confident = spec.alertWhen === 'above' ? score >= confidenceThreshold : score <= confidenceThreshold;
    return confident ? 'triggered' : 'review';
  }

  trigger(seq: number, payload: Buffer): void {
    this.counts.triggered++;
    const run = this.post(seq, payload).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  /** Waits for actions in flight (each bounded by its timeouts and retries); cancels their backoff waits. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.inFlight]);
  }

  private async post(seq: number, payload: Buffer): Promise<void> {
    const { config, log, clock, deviceId } = this.deps;
    for (let attempt = 0; attempt <= config.retries; attempt++) {
      if (attempt > 0) {
        if (this.abort.signal.aborted) break;
        await clock.sleep(backoffDelay({ initialMs: 500, maxMs: 10_000 }, attempt - 1, this.deps.random ?? Math.random), this.abort.signal);
      }
      let status: number | undefined;
      try {
        const res = await fetch(config.url!, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `${deviceId}:${seq}`, ...config.headers },
          body: payload,
          signal: AbortSignal.timeout(config.timeoutMs),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.counts.succeeded++;
          log.info({ seq, status }, 'action triggered');
          return;
        }
      } catch (err) {
        log.warn({ seq, attempt, err: { message: (err as Error).message } }, 'action request failed');
      }
      if (status !== undefined && status >= 400 && status < 500) {
        log.error({ seq, status }, 'action refused by the endpoint');
        break;
      }
    }
    this.counts.failed++;
    log.error({ seq }, 'action not done');
  }
}

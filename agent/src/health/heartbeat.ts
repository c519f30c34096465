/**
 * Publishes the device status (retained) when the link comes up and every `intervalMs` while it is up,
 * so the controller sees counters move and can tell a silent device from a quiet one.
 */
import type { Logger } from 'pino';
import type { Status } from '@pdm/protocol';
import type { StatusBuilder } from './status.js';

export interface StatusLink {
  readonly connected: boolean;
  publishPayload(kind: 'status', payload: Status): Promise<void>;
  onUp(listener: () => void): () => void;
}

export interface HeartbeatDeps {
  readonly link: StatusLink;
  readonly status: StatusBuilder;
  readonly intervalMs: number;
  readonly log: Logger;
}

export class Heartbeat {
  private timer: ReturnType<typeof setInterval> | undefined;
  private offUp: (() => void) | undefined;

  constructor(private readonly deps: HeartbeatDeps) {}

  start(): void {
    this.offUp = this.deps.link.onUp(() => void this.publishNow());
    this.timer = setInterval(() => void this.publishNow(), this.deps.intervalMs);
    if (this.deps.link.connected) void this.publishNow();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.offUp?.();
  }

  /** Publishes the current status now (also used by the report-state command). */
  async publishNow(): Promise<void> {
    if (!this.deps.link.connected) return;
    try {
      await this.deps.link.publishPayload('status', this.deps.status('online'));
    } catch (err) {
      this.deps.log.warn({ err }, 'status not published');
    }
  }
}

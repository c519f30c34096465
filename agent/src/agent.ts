/**
 * Starts the agent's parts in order and stops them in reverse (zigbee2mqtt's controller pattern). A
 * part marked essential that fails to start aborts the start, after stopping what already started; a
 * non-essential one is logged and left out, and the rest run on. Stopping goes on past a part whose
 * stop throws, so one broken part cannot keep the others (e.g. the outbox) from closing cleanly.
 */
import type { Logger } from 'pino';

export interface Part {
  readonly name: string;
  /** Without it the agent cannot do its job: failing to start it fails the start. */
  readonly essential: boolean;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export class Agent {
  private started: Part[] = [];

  constructor(private readonly deps: { readonly parts: readonly Part[]; readonly log: Logger }) {}

  async start(): Promise<void> {
    for (const part of this.deps.parts) {
      try {
        await part.start();
        this.started.push(part);
      } catch (err) {
        if (part.essential) {
          this.deps.log.error({ err, part: part.name }, 'essential part failed to start');
          await this.stop();
          throw err;
        }
        this.deps.log.error({ err, part: part.name }, 'part failed to start; running without it');
      }
    }
  }

  async stop(): Promise<void> {
    const parts = this.started.reverse();
    this.started = [];
    for (const part of parts) {
      try {
        await part.stop();
      } catch (err) {
        this.deps.log.error({ err, part: part.name }, 'part failed to stop');
      }
    }
  }
}

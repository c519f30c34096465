/**
 * Runs a part only while this instance is the leader: started when the lease is taken, stopped when
 * it is lost or the controller stops. For whole parts that are singleton work (the rollout engine,
 * report jobs). A part that must also check right before each run (the lease can lapse between two
 * renewals) reads `cluster.isLeader`.
 */
import type { Logger } from '../logger.js';
import type { Cluster } from './cluster.js';

export interface StartStop {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class LeaderOnly implements StartStop {
  readonly #cluster: Pick<Cluster, 'isLeader' | 'onLeadership'>;
  readonly #part: StartStop;
  readonly #log: Logger;
  #off: (() => void) | undefined;
  #running = false;
  /** Start and stop of the inner part run one after the other, never interleaved. */
  #queue: Promise<void> = Promise.resolve();

  constructor(cluster: Pick<Cluster, 'isLeader' | 'onLeadership'>, part: StartStop, log: Logger) {
    this.#cluster = cluster;
    this.#part = part;
    this.#log = log;
  }

  /** Whether the inner part runs now. */
  get running(): boolean {
    return this.#running;
  }

  async start(): Promise<void> {
    this.#off = this.#cluster.onLeadership((leading) => { void this.#follow(leading); });
    await this.#follow(this.#cluster.isLeader);
  }

  async stop(): Promise<void> {
    this.#off?.();
    this.#off = undefined;
    await this.#follow(false);
  }

  /** Settles once the inner part matches `leading`; a failure is logged, and retried at the next change. */
  #follow(leading: boolean): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      if (leading === this.#running) return;
      try {
        if (leading) await this.#part.start();
        else await this.#part.stop();
        this.#running = leading;
        this.#log.info({ running: leading }, leading ? 'singleton part started (leader)' : 'singleton part stopped');
      } catch (err) {
        this.#log.error({ err, leading }, 'singleton part failed to follow leadership');
      }
    });
    return this.#queue;
  }
}

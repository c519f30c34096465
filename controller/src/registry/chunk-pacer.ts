/**
 * Paces the chunk answers the controller publishes. At most `maxInFlight` answers await the broker's
 * acknowledgement at a time; further requests wait here in arrival order. A device that asks again
 * for a range whose request is still waiting (its chunk timeout ran out in the queue) replaces that
 * request, keeping its place, instead of adding a second answer to the queue; a request that waited
 * longer than `maxWaitMs` is dropped unanswered (its device asked again, or went away).
 *
 * Why: a stage's devices all ask at once. Published without limit, the answers queued in the
 * controller's and the broker's buffers for longer than the devices' chunk timeout, every device asked
 * again, and the queue grew while no download progressed (bench:rollout: 1,518 ranges asked twice).
 */
import type { FetchRequest } from '@pdm/protocol';

export interface ChunkPacerOptions {
  /** Answers published and not yet acknowledged by the broker, at most. */
  readonly maxInFlight: number;
  /** A request waiting longer than this is dropped. */
  readonly maxWaitMs: number;
}

export interface PacerStats {
  /** Requests that replaced a waiting request for the same device and range. */
  coalesced: number;
  /** Requests dropped after waiting more than maxWaitMs. */
  expired: number;
}

interface Waiting {
  req: FetchRequest;
  since: number;
}

export class ChunkPacer {
  readonly stats: PacerStats = { coalesced: 0, expired: 0 };
  /** In arrival order (a Map keeps insertion order, and replacing a value keeps the place). */
  readonly #queue = new Map<string, Waiting>();
  #inFlight = 0;
  #stopped = false;

  /**
   * `publish` sends one answer and settles when the broker acknowledged it (or failed); `now` is
   * monotonic wall time in ms: queueing is about real time, whatever clock the rest runs on.
   */
  constructor(
    private readonly options: ChunkPacerOptions,
    private readonly publish: (req: FetchRequest) => Promise<void>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get waiting(): number {
    return this.#queue.size;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  start(): void {
    this.#stopped = false;
  }

  /** Forgets what waits; answers in flight settle on their own. */
  stop(): void {
    this.#stopped = true;
    this.#queue.clear();
  }

  enqueue(req: FetchRequest): void {
    if (this.#stopped) return;
    const key = `${req.deviceId}\u0000${req.sha256}\u0000${req.offset}`;
    const queued = this.#queue.get(key);
    if (queued === undefined) {
      this.#queue.set(key, { req, since: this.now() });
    } else {
      // the newest request id: an agent that matches answers by request id waits for that one
      queued.req = req;
      queued.since = this.now();
      this.stats.coalesced += 1;
    }
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#inFlight < this.options.maxInFlight) {
      const next = this.#queue.entries().next();
      if (next.done === true) return;
      const [key, waiting] = next.value;
      this.#queue.delete(key);
      if (this.now() - waiting.since > this.options.maxWaitMs) {
        this.stats.expired += 1;
        continue;
      }
      this.#inFlight += 1;
      const settled = (): void => {
        this.#inFlight -= 1;
        this.#pump();
      };
      // `publish` reports its own failures; a rejection here must still free the slot
      this.publish(waiting.req).then(settled, settled);
    }
  }
}

/**
 * Moves records from the outbox to the broker: publishes unacknowledged entries in seq order with at
 * most `maxInFlight` awaiting a PUBACK, deletes each from the outbox only after its PUBACK, and after a
 * reconnect starts again from the oldest unacknowledged entry, so everything unacknowledged is resent
 * in seq order. Duplicates (a PUBACK lost with the connection) are expected: the controller stores
 * idempotently on (deviceId, seq).
 */
import type { Logger } from 'pino';
import type { UpKind } from '@pdm/protocol';
import type { Outbox, OutboxEntry } from './outbox.js';

/** What the forwarder needs from the MQTT link. */
export interface UpLink {
  readonly connected: boolean;
  /** Resolves on PUBACK; rejects when the message may not have reached the broker. */
  publish(kind: UpKind, payload: Buffer): Promise<void>;
  onUp(listener: () => void): () => void;
  onDown(listener: () => void): () => void;
}

export interface ForwarderDeps {
  readonly outbox: Outbox;
  readonly link: UpLink;
  readonly config: { readonly maxInFlight: number };
  readonly log: Logger;
}

export interface ForwarderStats {
  /** Publishes sent, resends included. */
  readonly published: number;
  readonly acked: number;
  readonly inFlight: number;
}

/** After a publish fails on a link that still looks up, wait this long before trying again. */
const RETRY_AFTER_FAILURE_MS = 1_000;

export class Forwarder {
  private readonly inFlight = new Set<number>();
  /** Highest seq handed to the link on the current connection. */
  private cursor = 0;
  /** Bumped when the window resets, so late results of older publishes do not touch the new window. */
  private generation = 0;
  private running = false;
  private stopped = false;
  private unsubscribe: (() => void)[] = [];
  private acks: number[] = [];
  private ackFlush: ReturnType<typeof setImmediate> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pumpSoon: ReturnType<typeof setImmediate> | undefined;
  private drainWaiters: (() => void)[] = [];
  private published = 0;
  private acked = 0;
  /** Set while stop() waits for the in-flight window to empty. */
  private settled: (() => void) | undefined;

  constructor(private readonly deps: ForwarderDeps) {}

  start(): void {
    const { outbox, link } = this.deps;
    this.running = true;
    this.stopped = false;
    this.unsubscribe = [
      outbox.onCommit(() => this.schedulePump()),
      link.onUp(() => {
        this.flushAcks();
        this.resetWindow();
        this.pump();
      }),
      link.onDown(() => this.resetWindow()),
    ];
    this.pump();
  }

  /**
   * Stops publishing. Publishes already sent get up to `settleMs` for their PUBACK, so a clean stop
   * leaves no needless duplicates; whatever stays unacknowledged is kept for the next start.
   */
  async stop(settleMs = 2_000): Promise<void> {
    this.running = false;
    clearTimeout(this.retryTimer);
    clearImmediate(this.pumpSoon);
    this.pumpSoon = undefined;
    if (this.inFlight.size > 0 && this.deps.link.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, settleMs);
        this.settled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.settled = undefined;
    }
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    this.flushAcks();
    this.resetWindow();
    this.stopped = true;
  }

  stats(): ForwarderStats {
    return { published: this.published, acked: this.acked, inFlight: this.inFlight.size };
  }

  /** Resolves once the outbox holds no unacknowledged entry. */
  drained(): Promise<void> {
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private isDrained(): boolean {
    return this.deps.outbox.stats().depth === 0 && this.acks.length === 0;
  }

  private resetWindow(): void {
    this.generation++;
    this.inFlight.clear();
    this.cursor = 0;
    this.settled?.();
  }

  /** Commits come in bursts: one pump per turn of the event loop reads them in one query. */
  private schedulePump(): void {
    this.pumpSoon ??= setImmediate(() => {
      this.pumpSoon = undefined;
      this.pump();
    });
  }

  private pump(): void {
    const { outbox, link, config } = this.deps;
    while (this.running && link.connected && this.inFlight.size < config.maxInFlight) {
      const batch = outbox.pending({ afterSeq: this.cursor, limit: config.maxInFlight - this.inFlight.size });
      if (batch.length === 0) return;
      for (const entry of batch) this.send(entry);
    }
  }

  private send(entry: OutboxEntry): void {
    const generation = this.generation;
    this.cursor = entry.seq;
    this.inFlight.add(entry.seq);
    this.published++;
    this.deps.link.publish(entry.kind, entry.payload).then(
      () => this.onAck(generation, entry.seq),
      (err: unknown) => this.onFailure(generation, entry.seq, err),
    );
  }

  private onAck(generation: number, seq: number): void {
    // after stop the outbox may be closed: the record stays and is sent again next time (a duplicate)
    if (this.stopped) return;
    // a PUBACK means the broker has the message, whichever connection it came on: delete it either way
    this.acks.push(seq);
    this.acked++;
    if (generation === this.generation) this.inFlight.delete(seq);
    if (this.inFlight.size === 0) this.settled?.();
    // acks that arrive together are deleted in one transaction
    this.ackFlush ??= setImmediate(() => {
      this.ackFlush = undefined;
      this.flushAcks();
      this.pump();
    });
  }

  private flushAcks(): void {
    if (this.ackFlush !== undefined) {
      clearImmediate(this.ackFlush);
      this.ackFlush = undefined;
    }
    if (this.acks.length > 0) {
      const seqs = this.acks;
      this.acks = [];
      try {
        this.deps.outbox.ack(seqs);
      } catch (err) {
        // the records stay in the outbox and are sent again: a duplicate, never a loss
        this.deps.log.error({ err, count: seqs.length }, 'deleting acknowledged records failed');
      }
    }
    if (this.drainWaiters.length > 0 && this.isDrained()) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private onFailure(generation: number, seq: number, err: unknown): void {
    if (generation !== this.generation) return;
    this.deps.log.debug({ err, seq }, 'publish not acknowledged');
    // resend from the oldest unacknowledged entry; onDown resets too when the link has dropped
    this.resetWindow();
    if (!this.running || !this.deps.link.connected) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.pump(), RETRY_AFTER_FAILURE_MS);
  }
}

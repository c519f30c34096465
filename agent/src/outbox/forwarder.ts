/**
 * Moves records from the outbox to the broker and deletes each only after its PUBACK. Records go out
 * in three lanes, so that after a long outage a new alert never waits behind hours of backlog (issue 4):
 *
 * - critical: alerts, events, deployment reports, oldest first, before anything else and with a
 *   window of their own (`maxInFlight`), so a routine publish never holds one back;
 * - live: routine records committed since the link came up, oldest first;
 * - backlog: routine records committed before that, oldest first, at most `drainRatePerSecond`
 *   (a token bucket), and always at least a quarter of the routine window while any are left, so a
 *   busy live stream cannot starve the drain either.
 *
 * After a reconnect (or a failed publish) every lane starts again from its oldest unacknowledged
 * entry. Wire order therefore differs from seq order; the controller stores idempotently on
 * (deviceId, seq) and orders by seq. Duplicates (a PUBACK lost with the connection) are expected.
 */
import type { Logger } from 'pino';
import type { UpKind } from '@pdm/protocol';
import { systemClock, type Clock } from '../clock.js';
import { inRange, type EvictedRange, type Outbox, type OutboxEntry, type RecordClass } from './outbox.js';

/** What the forwarder needs from the MQTT link. */
export interface UpLink {
  readonly connected: boolean;
  /** Resolves on PUBACK; rejects when the message may not have reached the broker. */
  publish(kind: UpKind, payload: Buffer): Promise<void>;
  onUp(listener: () => void): () => void;
  onDown(listener: () => void): () => void;
}

export interface ForwarderConfig {
  /** Critical records awaiting a PUBACK at most, and routine records likewise (two windows). */
  readonly maxInFlight: number;
  /** Backlog records published per second at most (default: no limit). */
  readonly drainRatePerSecond?: number;
}

export interface ForwarderDeps {
  readonly outbox: Outbox;
  readonly link: UpLink;
  readonly config: ForwarderConfig;
  readonly log: Logger;
  readonly clock?: Clock;
}

export type Lane = 'critical' | 'live' | 'backlog';

export interface ForwarderStats {
  /** Publishes sent, resends included. */
  readonly published: number;
  readonly acked: number;
  readonly inFlight: number;
  /** Publishes sent per lane, resends included. */
  readonly byLane: Readonly<Record<Lane, number>>;
}

/**
 * PUBACKed records are deleted in batches: at most this long after the first ack of a batch, at once
 * when the batch is this big or nothing is left in flight. Deleting is most of the drain's cost
 * (bench/RESULTS.md); a record acknowledged but not yet deleted when the agent dies is sent again: a
 * duplicate, never a loss.
 */
const ACK_FLUSH_MS = 25;
const ACK_FLUSH_COUNT = 512;
/** After a publish fails on a link that still looks up, wait this long before trying again. */
const RETRY_AFTER_FAILURE_MS = 1_000;
const ROUTINE: readonly RecordClass[] = ['metrics', 'predictions', 'samples'];

interface Sent {
  readonly lane: Lane;
  readonly entry: OutboxEntry;
}

export class Forwarder {
  private readonly inFlight = new Map<number, Sent>();
  private readonly laneInFlight: Record<Lane, number> = { critical: 0, live: 0, backlog: 0 };
  /** Highest seq read from the outbox per lane on the current window (sent, or waiting in `ahead`). */
  private cursor: Record<Lane, number> = { critical: 0, live: 0, backlog: 0 };
  /**
   * Entries read ahead per lane, in seq order, not yet sent: a PUBACK frees a slot and the next entry
   * goes out at once, as in a bare publish loop, while reads and deletes are batched.
   */
  private ahead: Record<Lane, OutboxEntry[]> = { critical: [], live: [], backlog: [] };
  /** Routine records up to this seq were committed before the window opened: backlog. */
  private liveFrom = 0;
  /**
   * A lane whose last query came back short has nothing more until a commit adds to it (the backlog
   * never does): it is not queried again, so a steady drain costs one query per refill, not three.
   */
  private exhausted: Record<Lane, boolean> = { critical: false, live: false, backlog: false };
  /** Bumped when the window resets, so late results of older publishes do not touch the new window. */
  private generation = 0;
  private tokens = 0;
  private refilledAt = 0;
  private running = false;
  private stopped = false;
  private unsubscribe: (() => void)[] = [];
  /** PUBACKed, not yet deleted from the outbox. */
  private acks = new Set<number>();
  private ackFlush: { timer: ReturnType<typeof setTimeout>; soon: boolean } | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private tokenTimer: ReturnType<typeof setTimeout> | undefined;
  private pumpSoon: ReturnType<typeof setImmediate> | undefined;
  private drainWaiters: (() => void)[] = [];
  private published = 0;
  private acked = 0;
  private readonly byLane: Record<Lane, number> = { critical: 0, live: 0, backlog: 0 };
  /** Set while stop() waits for the in-flight window to empty. */
  private settled: (() => void) | undefined;

  constructor(private readonly deps: ForwarderDeps) {}

  private get clock(): Clock {
    return this.deps.clock ?? systemClock;
  }

  start(): void {
    const { outbox, link } = this.deps;
    this.running = true;
    this.stopped = false;
    this.unsubscribe = [
      outbox.onCommit((entries) => {
        for (const e of entries) this.exhausted[e.recordClass === 'critical' ? 'critical' : 'live'] = false;
        this.schedulePump();
      }),
      link.onUp(() => {
        this.flushAcks();
        this.resetWindow();
        this.pump();
      }),
      link.onDown(() => {
        this.flushAcks();
        this.resetWindow();
      }),
      // a cap passes by what is in flight, and what it took must not go out from the read-ahead
      outbox.watch({
        inFlight: (seq) => this.inFlight.has(seq) || this.acks.has(seq),
        evicted: (ranges) => this.forgetEvicted(ranges),
      }),
    ];
    this.resetWindow();
    this.pump();
  }

  /**
   * Stops publishing. Publishes already sent get up to `settleMs` for their PUBACK, so a clean stop
   * leaves no needless duplicates; whatever stays unacknowledged is kept for the next start.
   */
  async stop(settleMs = 2_000): Promise<void> {
    this.running = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.tokenTimer);
    // waitForToken arms a timer only while none is set: a stale handle would keep a restart from ever arming one
    this.tokenTimer = undefined;
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
    return { published: this.published, acked: this.acked, inFlight: this.inFlight.size, byLane: { ...this.byLane } };
  }

  /** Resolves once the outbox holds no unacknowledged entry. */
  drained(): Promise<void> {
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private isDrained(): boolean {
    return this.inFlight.size === 0 && this.acks.size === 0 && this.deps.outbox.stats().depth === 0;
  }

  private resetWindow(): void {
    this.generation++;
    this.inFlight.clear();
    this.laneInFlight.critical = this.laneInFlight.live = this.laneInFlight.backlog = 0;
    this.cursor = { critical: 0, live: 0, backlog: 0 };
    this.ahead = { critical: [], live: [], backlog: [] };
    this.exhausted = { critical: false, live: false, backlog: false };
    // the outbox may be closed when a late link event arrives after stop
    if (this.running) this.liveFrom = this.deps.outbox.stats().lastSeq;
    this.tokens = Math.min(this.tokens, this.burst());
    this.settled?.();
  }

  private forgetEvicted(ranges: readonly EvictedRange[]): void {
    for (const lane of ['live', 'backlog'] as const) {
      this.ahead[lane] = this.ahead[lane].filter((e) => !ranges.some((r) => inRange(r, e)));
    }
    // a cap may have taken the last pending entries, and no PUBACK then comes to settle drained(); the
    // outbox tells the watch before its counters take the transaction, so look once the commit returned
    if (this.drainWaiters.length > 0) queueMicrotask(() => this.settleDrainWaiters());
  }

  /** Commits come in bursts: one pump per turn of the event loop reads them in one query. */
  private schedulePump(): void {
    this.pumpSoon ??= setImmediate(() => {
      this.pumpSoon = undefined;
      this.pump();
    });
  }

  private pump(): void {
    const { link, config } = this.deps;
    if (!this.running || !link.connected) return;
    this.fill('critical', config.maxInFlight - this.laneInFlight.critical);
    const routineFree = (): number => config.maxInFlight - this.laneInFlight.live - this.laneInFlight.backlog;
    const reserve = this.isEmpty('backlog') ? 0 : Math.ceil(config.maxInFlight / 4);
    this.fill('live', Math.min(routineFree(), config.maxInFlight - reserve - this.laneInFlight.live));
    this.refill();
    const allowed = Math.min(routineFree(), Math.floor(this.tokens));
    const sent = this.fill('backlog', allowed);
    this.tokens -= sent;
    // the live lane may use what the backlog could not
    if (sent < allowed || this.isEmpty('backlog')) this.fill('live', routineFree());
    // nothing but this timer may come to send the rest of the backlog (no PUBACK, no commit pending)
    if (!this.isEmpty('backlog') && routineFree() > 0 && this.tokens < 1) this.waitForToken();
  }

  /**
   * Nothing left to send in the lane on this window. `exhausted` alone is not that: the read that came
   * back short may still wait in the read-ahead (a backlog read of 64 the bucket lets out one by one);
   * taking it for empty left that rest unsent until some commit pumped again, forever when none came.
   */
  private isEmpty(lane: Lane): boolean {
    return this.exhausted[lane] && this.ahead[lane].length === 0;
  }

  /** Publishes up to `room` entries of one lane, in seq order, reading ahead a window at a time; returns how many. */
  private fill(lane: Lane, room: number): number {
    let sent = 0;
    while (sent < room) {
      let queue = this.ahead[lane];
      if (queue.length === 0) {
        if (this.exhausted[lane]) break;
        const want = Math.max(room - sent, this.deps.config.maxInFlight);
        queue = this.next(lane, want);
        if (queue.length < want) this.exhausted[lane] = true;
        if (queue.length === 0) break;
        this.cursor[lane] = queue[queue.length - 1]!.seq;
        // oldest last, so taking the next one is a pop
        this.ahead[lane] = queue.reverse();
      }
      this.send(lane, queue.pop()!);
      sent++;
    }
    return sent;
  }

  private next(lane: Lane, limit: number): OutboxEntry[] {
    const { outbox } = this.deps;
    const after = this.cursor[lane];
    if (lane === 'critical') return outbox.pending({ afterSeq: after, limit, classes: ['critical'] });
    if (lane === 'live') return outbox.pending({ afterSeq: Math.max(after, this.liveFrom), limit, classes: ROUTINE });
    return outbox.pending({ afterSeq: after, throughSeq: this.liveFrom, limit, classes: ROUTINE });
  }

  private send(lane: Lane, entry: OutboxEntry): void {
    const generation = this.generation;
    this.inFlight.set(entry.seq, { lane, entry });
    this.laneInFlight[lane]++;
    this.published++;
    this.byLane[lane]++;
    this.deps.link.publish(entry.kind, entry.payload).then(
      () => this.onAck(generation, entry.seq),
      (err: unknown) => this.onFailure(generation, entry.seq, err),
    );
  }

  private burst(): number {
    return Math.max(1, this.deps.config.maxInFlight);
  }

  private refill(): void {
    const rate = this.deps.config.drainRatePerSecond;
    if (rate === undefined) {
      this.tokens = Number.POSITIVE_INFINITY;
      return;
    }
    const now = this.clock.monotonic();
    this.tokens = Math.min(this.burst(), this.tokens + ((now - this.refilledAt) * rate) / 1000);
    this.refilledAt = now;
  }

  private waitForToken(): void {
    const rate = this.deps.config.drainRatePerSecond;
    if (rate === undefined || this.tokenTimer !== undefined) return;
    const ms = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / rate));
    this.tokenTimer = setTimeout(() => {
      this.tokenTimer = undefined;
      this.pump();
    }, ms);
  }

  private onAck(generation: number, seq: number): void {
    // after stop the outbox may be closed: the record stays and is sent again next time (a duplicate)
    if (this.stopped) return;
    // a PUBACK means the broker has the message, whichever connection it came on: delete it either way
    this.acks.add(seq);
    this.acked++;
    const sent = this.inFlight.get(seq);
    if (generation === this.generation && sent !== undefined) {
      this.inFlight.delete(seq);
      this.laneInFlight[sent.lane]--;
      if (sent.lane === 'critical') {
        const { entry } = sent;
        this.deps.log.info({ seq, kind: entry.kind, committedAt: entry.committedAt, waitedMs: this.clock.now() - entry.committedAt }, 'critical record delivered');
      }
    }
    if (this.inFlight.size === 0) this.settled?.();
    // the freed slot goes to the next entry now (read ahead: usually no query)
    this.pump();
    this.scheduleFlush(this.acks.size >= ACK_FLUSH_COUNT || this.inFlight.size === 0);
  }

  private scheduleFlush(soon: boolean): void {
    if (this.ackFlush !== undefined && (this.ackFlush.soon || !soon)) return;
    if (this.ackFlush !== undefined) clearTimeout(this.ackFlush.timer);
    const timer = setTimeout(() => {
      this.ackFlush = undefined;
      this.flushAcks();
      this.pump();
    }, soon ? 0 : ACK_FLUSH_MS);
    this.ackFlush = { timer, soon };
  }

  private flushAcks(): void {
    if (this.ackFlush !== undefined) {
      clearTimeout(this.ackFlush.timer);
      this.ackFlush = undefined;
    }
    if (this.acks.size > 0) {
      const seqs = [...this.acks];
      this.acks = new Set();
      try {
        this.deps.outbox.ack(seqs);
      } catch (err) {
        // the records stay in the outbox and are sent again: a duplicate, never a loss
        this.deps.log.error({ err, count: seqs.length }, 'deleting acknowledged records failed');
      }
    }
    this.settleDrainWaiters();
  }

  private settleDrainWaiters(): void {
    if (this.drainWaiters.length === 0 || !this.isDrained()) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private onFailure(generation: number, seq: number, err: unknown): void {
    if (generation !== this.generation) return;
    this.deps.log.debug({ err, seq }, 'publish not acknowledged');
    // resend from the oldest unacknowledged entry of every lane; onDown resets too when the link dropped
    this.resetWindow();
    if (!this.running || !this.deps.link.connected) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.pump(), RETRY_AFTER_FAILURE_MS);
  }
}

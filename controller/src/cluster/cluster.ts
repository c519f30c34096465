/**
 * Cluster membership and the leader lease, both rows in the shared SQLite database.
 *
 * Several controller processes may share one database file (WAL, one host) and, through MQTT 5
 * shared subscriptions, the fleet's traffic. Ingest, commands, HTTP and chunk serving run on every
 * instance. Work that must happen once (presence timeouts, reconciliation rounds, rollout engine
 * ticks, report jobs) runs only on the leader: the instance whose row in `leader` is unexpired. The
 * leader renews it every third of the lease; another instance takes it over only once it has
 * expired, so a crashed leader is replaced after at most `leaseMs`, and a stopping one releases it at
 * once. A leader that failed to renew steps down a third of the lease before its expiry, so two
 * instances never both believe they lead (short of a process frozen for longer than that). All writes run in BEGIN IMMEDIATE transactions, which wait (busy_timeout) for the other
 * process's writer instead of failing on a stale snapshot.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { type Database, type Db, writeTransaction } from '../db/database.js';
import type { Logger } from '../logger.js';

export const LEADER_ROLE = 'controller';

export interface ClusterOptions {
  /** For people: the broker client id, or the host name. */
  name?: string;
  leaseMs: number;
  /** How often membership and lease are renewed; default a third of the lease. */
  renewMs?: number;
}

export interface MemberView {
  instanceId: string;
  name: string;
  startedAt: number;
  expiresAt: number;
  leader: boolean;
}

type Listener = (leading: boolean) => void;

export class Cluster {
  readonly #options: ClusterOptions;
  readonly #database: Database;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #listeners = new Set<Listener>();
  readonly #instanceId: string;
  #db: Db | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The lease is ours until then (the expiry we wrote); 0 when not held. */
  #heldUntil = 0;
  #leading = false;
  #member = false;
  #startedAt = 0;
  #stepDown: NodeJS.Timeout | undefined;

  constructor(options: ClusterOptions, database: Database, clock: Clock, log: Logger) {
    this.#options = options;
    this.#database = database;
    this.#clock = clock;
    this.#log = log;
    this.#instanceId = `${options.name ?? hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  }

  get instanceId(): string {
    return this.#instanceId;
  }

  /** True while this instance holds the lease (with a margin before it expires): check it right before each singleton run. */
  get isLeader(): boolean {
    return this.#heldUntil - this.#margin > this.#clock.now();
  }

  get #margin(): number {
    return Math.floor(this.#options.leaseMs / 3);
  }

  async start(): Promise<void> {
    this.#db = this.#database.handle;
    this.#startedAt = this.#clock.now();
    this.#member = true;
    this.tick();
    const renewMs = this.#options.renewMs ?? Math.max(100, Math.floor(this.#options.leaseMs / 3));
    this.#timer = setInterval(() => this.tick(), renewMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#stepDown);
    this.#timer = undefined;
    if (this.#db === undefined) return;
    try {
      this.#immediate(() => {
        this.#db!.prepare('DELETE FROM cluster_members WHERE instance_id = ?').run(this.#instanceId);
        this.#db!.prepare('DELETE FROM leader WHERE role = ? AND owner = ?').run(LEADER_ROLE, this.#instanceId);
      });
    } catch (err) {
      this.#log.warn({ err }, 'lease not released; it expires by itself');
    }
    this.#member = false;
    this.#heldUntil = 0;
    this.#announce();
    this.#db = undefined;
  }

  /** Leadership changes (also seen by `isLeader` at once); returns an unsubscribe function. */
  onLeadership(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Leaves the membership and says whether another live instance remains. One transaction for both,
   * so of two instances stopping at once exactly one sees the other and the last one sees nobody.
   */
  leave(): boolean {
    if (this.#db === undefined || !this.#member) return false;
    this.#member = false;
    const now = this.#clock.now();
    return this.#immediate(() => {
      this.#db!.prepare('DELETE FROM cluster_members WHERE instance_id = ?').run(this.#instanceId);
      const others = this.#db!.prepare('SELECT COUNT(*) FROM cluster_members WHERE expires_at > ?').pluck().get(now) as number;
      this.#log.info({ others }, 'left the cluster');
      return others > 0;
    });
  }

  /** Live instances, the leader marked. */
  members(): MemberView[] {
    const db = this.#db;
    if (db === undefined) return [];
    const now = this.#clock.now();
    const owner = db.prepare('SELECT owner FROM leader WHERE role = ? AND expires_at > ?').pluck().get(LEADER_ROLE, now) as string | undefined;
    const rows = db.prepare(`SELECT instance_id AS instanceId, name, started_at AS startedAt, expires_at AS expiresAt
      FROM cluster_members WHERE expires_at > ? ORDER BY started_at, instance_id`).all(now) as Omit<MemberView, 'leader'>[];
    return rows.map((r) => ({ ...r, leader: r.instanceId === owner }));
  }

  /** Renews membership and tries to take or keep the lease; runs on the timer, callable from tests. */
  tick(): void {
    if (this.#db === undefined) throw new PdmError('INTERNAL', 'cluster is not started');
    const now = this.#clock.now();
    const expires = now + this.#options.leaseMs;
    try {
      const held = this.#immediate(() => {
        if (this.#member) {
          this.#db!.prepare(`INSERT INTO cluster_members (instance_id, name, started_at, expires_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (instance_id) DO UPDATE SET expires_at = excluded.expires_at`)
            .run(this.#instanceId, this.#options.name ?? hostname(), this.#startedAt, expires);
        }
        // Take the lease when it is free or expired, keep it when it is ours; otherwise change nothing.
        return this.#db!.prepare(`INSERT INTO leader (role, owner, acquired_at, expires_at) VALUES ($role, $me, $now, $expires)
          ON CONFLICT (role) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
            acquired_at = CASE WHEN leader.owner = excluded.owner THEN leader.acquired_at ELSE excluded.acquired_at END
          WHERE leader.owner = excluded.owner OR leader.expires_at <= $now`)
          .run({ role: LEADER_ROLE, me: this.#instanceId, now, expires }).changes > 0;
      });
      this.#heldUntil = held ? expires : 0;
      if (held) this.#scheduleStepDown(now);
    } catch (err) {
      // Keep what we had until it expires: isLeader turns false by itself then.
      this.#log.warn({ err }, 'lease not renewed');
    }
    this.#announce();
  }

  /** Tells the listeners when the lease lapses without a renewal, not only at the next tick. */
  #scheduleStepDown(now: number): void {
    clearTimeout(this.#stepDown);
    this.#stepDown = setTimeout(() => this.#announce(), this.#heldUntil - this.#margin - now);
    this.#stepDown.unref();
  }

  #announce(): void {
    const leading = this.isLeader;
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#log.info({ instanceId: this.#instanceId }, leading ? 'leadership acquired' : 'leadership lost');
    for (const listener of this.#listeners) {
      try {
        listener(leading);
      } catch (err) {
        this.#log.error({ err }, 'leadership listener failed');
      }
    }
  }

  #immediate<T>(fn: () => T): T {
    return writeTransaction(this.#db!, fn)();
  }
}

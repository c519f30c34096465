/**
 * Prometheus metrics of one controller instance (prom-client), served at GET /metrics.
 *
 * Three sources: the database at each scrape (fleet, ingest totals, rollouts: database-metrics.ts),
 * this process's own counts (messages the link handled and how long ingest took, the embedded
 * broker's clients and messages, leadership), and Node's process metrics. Every instance has its own
 * registry, so several controllers in one test process do not mix their numbers.
 *
 * Other modules add their own metrics to `registry` (`registers: [metrics.registry]`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ParsedTopic } from '@pdm/protocol';
import type { BrokerStats } from '../broker/broker-host.js';
import type { LinkMessage, LinkObserver } from '../broker/broker-link.js';
import type { Db } from '../db/database.js';
import { registerDatabaseMetrics } from './database-metrics.js';

/** Live values of other parts, read at scrape time (the parts are built after this one). */
export interface MetricsSources {
  db: () => Db;
  /** The embedded broker's counts; absent for an external broker (which reports its own, e.g. Mosquitto's $SYS topics). */
  broker?: () => BrokerStats | undefined;
  linkConnected: () => boolean;
  leader: () => boolean;
  members: () => number;
}

export interface Exposition {
  contentType: string;
  body: string;
}

// Handling one message is one SQLite transaction: tens to hundreds of microseconds when all is well,
// milliseconds when another process holds the write lock.
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5];

export class ControllerMetrics implements LinkObserver {
  readonly registry = new Registry();
  readonly #sources: MetricsSources;
  readonly #handled: Counter<'kind' | 'outcome'>;
  readonly #latency: Histogram<'kind'>;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    registerDatabaseMetrics(this.registry, sources.db);
    this.#handled = new Counter({
      // embedded mode has no link: the broker's authorizePublish hook hands device publishes to ingest
      name: 'pdm_link_messages_total',
      help: 'Upstream messages handed to this instance\'s ingest, by its link to an external broker or by the embedded broker\'s publish hook, by kind and outcome (handled; failed: left unacknowledged, for redelivery)',
      labelNames: ['kind', 'outcome'], registers,
    });
    this.#latency = new Histogram({
      name: 'pdm_ingest_latency_seconds',
      help: 'Time from this instance receiving an upstream message (its link to an external broker, or the embedded broker\'s publish hook) to ingest having handled it (stored and committed, or refused)',
      labelNames: ['kind'], buckets: LATENCY_BUCKETS, registers,
    });
    this.#registerBroker();
    this.#registerCluster();
  }

  /** LinkObserver: one call per message handed to ingest. */
  handled(message: LinkMessage, seconds: number, ok: boolean): void {
    const kind = kindOf(message.parsed);
    this.#handled.inc({ kind, outcome: ok ? 'handled' : 'failed' });
    if (ok) this.#latency.observe({ kind }, seconds);
  }

  async render(): Promise<Exposition> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #registerBroker(): void {
    const sources = this.#sources;
    const registers = [this.registry];
    new Gauge({
      name: 'pdm_broker_link_connected', help: '1 while the controller\'s link to the broker is connected', registers,
      collect() { this.set(sources.linkConnected() ? 1 : 0); },
    });
    const broker = sources.broker;
    if (broker === undefined) return;
    new Gauge({
      name: 'pdm_broker_clients_connected', help: 'Clients connected to the embedded broker (the controller\'s link included)', registers,
      collect() { this.set(broker()?.clients ?? 0); },
    });
    new Counter({
      name: 'pdm_broker_messages_received_total', help: 'PUBLISH packets the embedded broker received from clients', registers,
      collect() { this.reset(); this.inc(broker()?.received ?? 0); },
    });
    new Counter({
      name: 'pdm_broker_messages_sent_total', help: 'PUBLISH packets the embedded broker delivered to subscribers', registers,
      collect() { this.reset(); this.inc(broker()?.sent ?? 0); },
    });
    new Counter({
      name: 'pdm_broker_refused_total', help: 'Connections, publishes, subscriptions and oversized packets the embedded broker refused, by reason',
      labelNames: ['reason'], registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(broker()?.refused ?? {})) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'pdm_broker_publishes_throttled_total', help: 'PUBLISH packets the embedded broker held back because their client was over its publish rate', registers,
      collect() { this.reset(); this.inc(broker()?.throttled ?? 0); },
    });
  }

  #registerCluster(): void {
    const sources = this.#sources;
    const registers = [this.registry];
    new Gauge({
      name: 'pdm_cluster_leader', help: '1 while this instance holds the leader lease and runs the singleton jobs', registers,
      collect() { this.set(sources.leader() ? 1 : 0); },
    });
    new Gauge({
      name: 'pdm_cluster_members', help: 'Controller instances sharing this database (live membership rows)', registers,
      collect() { this.set(sources.members()); },
    });
  }
}

/**
 * The topic's kind for a label: only known pdm kinds, so a hostile topic cannot create label values.
 * `parsed`: the message's one parse, made where it was received (LinkMessage.parsed).
 */
function kindOf(parsed: ParsedTopic | undefined): string {
  return parsed?.kind ?? 'invalid';
}

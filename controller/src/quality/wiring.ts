/**
 * Builds the parts of model quality, quality alerts, entered machine events and reliability reports
 * from the configuration, and the API the routes use. app.ts places the parts after commands (the
 * forwarder sends commands) and before http; alerts and event delivery are singleton work (leader).
 */
import type { Clock } from '../clock.js';
import type { Commands } from '../commands/commands.js';
import type { ControllerConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { EventForwarder } from '../events/forwarder.js';
import { EventsRepo } from '../events/events-repo.js';
import { EventsService, type AuditSink } from '../events/events-service.js';
import type { StatusSource, UpstreamSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import { ReliabilityService } from '../reliability/reliability-service.js';
import { ReportJobs } from '../reliability/report-jobs.js';
import { QualityAlerts } from './alerts.js';
import { CardBaselines } from './baselines.js';
import { QualityRepo } from './quality-repo.js';
import { QualityService } from './quality-service.js';
import { QualityStore } from './quality-store.js';

/** What the quality, report, event and dashboard routes use. */
export interface InsightsApi {
  quality: QualityService;
  alerts: QualityAlerts;
  reliability: ReliabilityService;
  /** Reliability reports as response bodies, off the event loop and kept until the data changes. */
  reports: ReportJobs;
  events: EventsService;
  eventsRepo: () => EventsRepo;
}

export interface InsightsDeps {
  database: Database;
  ingest: UpstreamSource & StatusSource;
  commands: Pick<Commands, 'send'>;
  /** The audit log, once it exists (entered events are changes made by people). */
  audit?: () => AuditSink | undefined;
  clock: Clock;
  log: Logger;
}

export interface StartStop {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class Insights {
  readonly store: QualityStore;
  readonly alerts: QualityAlerts;
  readonly forwarder: EventForwarder;
  readonly quality: QualityService;
  readonly reports: ReportJobs;
  readonly api: InsightsApi;

  constructor(config: ControllerConfig, deps: InsightsDeps) {
    const { database, clock, log } = deps;
    const child = (module: string) => log.child({ module });
    const db = () => database.handle;
    // repositories over the open database: built on first use, after the database part has started
    let repo: QualityRepo | undefined;
    let cards: CardBaselines | undefined;
    let events: EventsRepo | undefined;
    const qualityRepo = () => (repo ??= new QualityRepo(db()));
    const cardBaselines = () => (cards ??= new CardBaselines(db(), config.modelCardsDir));
    const eventsRepo = () => (events ??= new EventsRepo(db()));
    const settings = { minMatured: config.qualityMinMatured };
    this.quality = new QualityService({ repo: qualityRepo, cards: cardBaselines, settings });
    this.store = new QualityStore(qualityRepo, deps.ingest, child('quality'));
    this.alerts = new QualityAlerts({
      db, repo: qualityRepo, cards: cardBaselines, clock, log: child('quality-alerts'),
      settings: {
        dropShare: config.qualityDropPercent / 100, minMatured: config.qualityMinMatured, driftPsiThreshold: config.driftPsiThreshold,
        driftScoreAlerts: config.driftScoreAlerts, driftMinSamples: config.driftMinSamples, intervalMs: config.qualityAlertIntervalSec * 1000,
        webhook: config.alertWebhookUrl === undefined ? undefined : { url: config.alertWebhookUrl, timeoutMs: 5000 },
      },
    });
    this.forwarder = new EventForwarder({
      repo: eventsRepo, commands: deps.commands, statuses: deps.ingest, clock, log: child('events'), retryMs: config.eventRetrySec * 1000,
    });
    const assumptions = { failureHours: config.repairHoursFailure, maintenanceHours: config.repairHoursMaintenance };
    const reliability = new ReliabilityService(db, assumptions, clock);
    this.reports = new ReportJobs({ db, service: reliability, assumptions, clock, log: child('reports') });
    this.api = {
      quality: this.quality,
      alerts: this.alerts,
      reliability,
      reports: this.reports,
      events: new EventsService({ db, repo: eventsRepo, audit: deps.audit, forwarder: this.forwarder, clock, log: child('events') }),
      eventsRepo,
    };
  }

  /** The parts in start order; `leaderOnly` wraps singleton work (alerts, event delivery). */
  parts(leaderOnly: (part: StartStop) => StartStop = (p) => p): [string, StartStop][] {
    return [
      ['quality', this.store], ['quality-alerts', leaderOnly(this.alerts)], ['event-forwarder', leaderOnly(this.forwarder)], ['reports', this.reports],
    ];
  }
}

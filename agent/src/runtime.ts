/**
 * Wiring: builds every part of the agent from the validated configuration and lists them in start
 * order (outbox, models, link, forwarder, heartbeat, commands, updates, actions, pipeline, source). The only place that
 * knows all the parts; each part gets just its slice of the config, a child logger and its peers.
 */
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { PdmError } from '@pdm/protocol';
import { Agent, type Part } from './agent.js';
import type { Clock } from './clock.js';
import { CommandHandler } from './commands/command-handler.js';
import type { AgentConfig } from './config/schema.js';
import { FeatureTail } from './features/window-tail.js';
import { Heartbeat } from './health/heartbeat.js';
import { statusBuilder } from './health/status.js';
import { loadModel, type LoadedModel } from './inference/model.js';
import { MqttLink } from './link/mqtt-link.js';
import { Counters } from './metrics/counters.js';
import { MetricWindows } from './metrics/metric-windows.js';
import { OpenWindows } from './metrics/open-windows.js';
import { outboxSettings } from './outbox/config.js';
import { Forwarder } from './outbox/forwarder.js';
import { SqliteOutbox } from './outbox/sqlite-outbox.js';
import type { ScoringSet } from './inference/slots.js';
import { Pipeline } from './pipeline.js';
import { DriftState } from './quality/drift-state.js';
import { GroundTruth, groundTruthFile } from './quality/ground-truth.js';
import { QualityJournal } from './quality/journal.js';
import { QualityMonitor } from './quality/monitor.js';
import { ReplayCsvSource } from './sources/replay-csv.js';
import { REPLAY_POSITION_FILE, ReplayPosition } from './sources/replay-position.js';
import type { SourceSummary } from './sources/source.js';
import { buildUpdates, type Updates } from './updates/wiring.js';

export interface RuntimeDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly random?: () => number;
}

/** How the sensor data ended: input ran out, the source was stopped, or it failed. */
export type SourceOutcome = 'ended' | 'stopped' | 'failed';

export interface Runtime {
  readonly agent: Agent;
  /** The model named by the configuration (the factory model); what runs now is `updates.models()`. */
  readonly model: LoadedModel;
  /** Signed updates: trust, model store, what runs, deployments. */
  readonly updates: Updates;
  readonly outbox: SqliteOutbox;
  readonly link: MqttLink;
  readonly forwarder: Forwarder;
  readonly counters: Counters;
  /** Settles once the source is over and everything it produced is committed to the outbox. */
  readonly sourceOutcome: Promise<SourceOutcome>;
  /** Settles once the source is over and the broker has acknowledged every record in the outbox (logged as 'source delivered'). */
  readonly sourceDelivered: Promise<SourceOutcome>;
  /** Numbers for the final log line. */
  summary(): Record<string, unknown>;
}

export const OUTBOX_FILE = 'outbox.sqlite';

/** Loads the model (failing on any card or spec problem) and builds the parts; starts nothing. */
export async function createRuntime(config: AgentConfig, deps: RuntimeDeps): Promise<Runtime> {
  const { clock, log } = deps;
  const child = (module: string): Logger => log.child({ module });
  const model = await loadModel(config.model);
  const spec = model.card.featureSpec;
  const counters = new Counters();
  const outbox = new SqliteOutbox({
    file: join(config.dataDir, OUTBOX_FILE), deviceId: config.deviceId, ...outboxSettings(config.outbox), clock, log: child('outbox'),
    // pending quality state never costs a record not sent yet (journal.ts)
    giveUpSpace: () => journal.giveUp(),
  });
  // the link's will needs the status, the status needs the models, the updates need the link
  let updates: Updates | undefined;
  const status = statusBuilder({
    identity: { deviceId: config.deviceId, assetId: config.assetId, assetClass: config.assetClass, site: config.site, bootId: randomUUID() },
    models: () => updates!.models(), counters, outbox, clock,
  });
  const link = new MqttLink({
    config: { deviceId: config.deviceId, brokerUrl: config.brokerUrl, ...config.link },
    will: () => status('offline', 'lost'),
    clock,
    log: child('link'),
    ...(deps.random === undefined ? {} : { random: deps.random }),
  });
  // the source reads the signals of whatever model runs now, which can change with a deployment
  const filter = config.source.filter;
  const replayed = `${resolve(config.source.file)}${filter === undefined ? '' : ` ${filter.column}=${filter.value}`}`;
  // the feature windows and the resume position are committed together with the records (window-tail.ts)
  const tail = new FeatureTail({
    outbox, assetId: config.assetId, source: replayed, resumedAfter: () => position.resumedAfter, log: child('window-tail'),
  });
  const position = new ReplayPosition({
    file: join(config.dataDir, REPLAY_POSITION_FILE), source: replayed, durable: () => tail.resumePoint(), clock, log: child('source'),
  });
  const source = new ReplayCsvSource({
    config: config.source, signals: runningSignals(() => updates!.slots.current()), position, clock, log: child('source'),
  });
  const unprovided = source.unprovided(spec.signals.map((s) => s.name));
  if (unprovided !== undefined) {
    await model.session.release();
    throw new PdmError('CONFIG_INVALID', `model ${model.card.name} ${model.card.version} needs signals the source cannot deliver: ${unprovided}`, {
      context: { model: model.ref, unprovided },
    });
  }
  const built = buildUpdates(config, {
    factory: model, source, outbox, link, clock, log,
    // a change of what runs is published at once, not at the next heartbeat
    onModelsChanged: () => void heartbeat.publishNow(),
    ...(deps.random === undefined ? {} : { random: deps.random }),
  });
  updates = built;
  const forwarder = new Forwarder({ outbox, link, config: config.forwarder, log: child('forwarder') });
  // the quality monitor's pending state lives in the outbox's file, written by the outbox's own commits
  const journal = new QualityJournal({
    file: join(config.dataDir, OUTBOX_FILE), enabled: config.quality.enabled, log: child('quality'),
  });
  let inputEnded = false;
  // the drift windows are committed with the records too, beside the feature windows (drift-state.ts)
  const drift = new DriftState({
    outbox, assetId: config.assetId, windowMs: config.quality.driftWindowSeconds * 1000, resumedAfter: () => position.resumedAfter?.readings, log: child('quality'),
  });
  const quality = new QualityMonitor({
    config: config.quality, assetId: config.assetId, store: journal, drift, inputEnded: () => inputEnded, log: child('quality'),
  });
  const groundTruth = new GroundTruth({
    assetId: config.assetId, file: groundTruthFile(config.dataDir), outbox, failures: quality, counters, clock, log: child('quality'),
  });
  const heartbeat = new Heartbeat({ link, status, intervalMs: config.heartbeatSeconds * 1000, log: child('health') });
  const commands = new CommandHandler({
    deviceId: config.deviceId,
    link,
    actions: {
      reportState: () => heartbeat.publishNow(),
      describe: () => ({ lastSeq: outbox.stats().lastSeq }),
      deploy: (commandId, envelope) => built.deploy(commandId, envelope),
      trustKeys: (envelope) => built.trustKeys(envelope),
      machineEvent: (event) => groundTruth.record(event),
    },
    counters, clock, log: child('commands'),
  });
  const pipeline = new Pipeline({
    config: { assetId: config.assetId, maxBatchRows: config.inference.maxBatchRows, windowMs: config.metricsWindowSeconds * 1000 },
    scoring: built.slots,
    observer: built.trial,
    actions: built.action,
    quality,
    windows: new MetricWindows({
      windowMs: config.metricsWindowSeconds * 1000,
      assetId: config.assetId,
      get model() {
        return built.slots.current().active.model.ref;
      },
    }),
    counters, outbox, log: child('pipeline'),
    committedThrough: (time) => position.committedThrough(time),
    tail,
    // the metric and comparison windows are committed with the feature windows (open-windows.ts)
    openWindows: new OpenWindows({
      outbox, assetId: config.assetId, windowMs: config.metricsWindowSeconds * 1000, source: replayed, resumedAfter: () => position.resumedAfter?.readings, log: child('pipeline'),
    }),
  });

  // the pipeline is finished once, whichever comes first: the source ending or the agent stopping
  let finishing: Promise<void> | undefined;
  const finish = (): Promise<void> => (finishing ??= pipeline.finish(inputEnded).then(() => {
    position.save();
    quality.finished();
  }));
  const sourceOutcome = source.done.then(
    async (summary: SourceSummary): Promise<SourceOutcome> => {
      inputEnded = summary.ended;
      await finish();
      return summary.ended ? 'ended' : 'stopped';
    },
    async (err: unknown): Promise<SourceOutcome> => {
      log.error({ err }, 'sensor source failed');
      await finish();
      return 'failed';
    },
  );

  // a replay that keeps running (no exitWhenDone) says when everything it produced has left the device
  const sourceDelivered = sourceOutcome.then(async (outcome) => {
    await forwarder.drained();
    const stats = outbox.stats();
    log.info({ outcome, lastSeq: stats.lastSeq, outboxDepth: stats.depth }, 'source delivered');
    return outcome;
  });

  let ready = false;
  link.onUp(() => {
    if (ready) return;
    ready = true;
    const stats = outbox.stats();
    const active = built.models()[0]!;
    log.info(
      { assetId: config.assetId, model: { name: active.name, version: active.version }, brokerUrl: config.brokerUrl, lastSeq: stats.lastSeq, outboxDepth: stats.depth },
      'agent ready',
    );
  });

  const parts: Part[] = [
    { name: 'outbox', essential: true, start: () => outbox.start(), stop: () => outbox.stop() },
    { name: 'quality-journal', essential: false, start: () => journal.start(), stop: () => journal.stop() },
    { name: 'quality', essential: false, start: () => quality.start(), stop: () => quality.stop() },
    built.parts.models,
    { name: 'link', essential: true, start: () => link.start(), stop: () => link.stop(status('offline', 'stopped')) },
    { name: 'forwarder', essential: true, start: () => forwarder.start(), stop: () => forwarder.stop() },
    { name: 'heartbeat', essential: false, start: () => heartbeat.start(), stop: () => heartbeat.stop() },
    { name: 'ground-truth', essential: false, start: () => groundTruth.start(), stop: () => groundTruth.stop() },
    { name: 'commands', essential: false, start: () => commands.start(), stop: () => commands.stop() },
    built.parts.updates,
    built.parts.actions,
    { name: 'pipeline', essential: true, start: () => undefined, stop: () => finish() },
    { name: 'source', essential: true, start: () => source.start(pipeline), stop: () => source.stop() },
  ];

  return {
    agent: new Agent({ parts, log }),
    model, updates: built, outbox, link, forwarder, counters, sourceOutcome, sourceDelivered,
    summary: () => {
      const stats = outbox.stats();
      return {
        lastSeq: stats.lastSeq,
        readings: counters.readings,
        rejectedReadings: counters.rejectedTotal(),
        predictions: counters.predictions,
        alerts: counters.alerts,
        events: counters.events,
        inferenceErrors: counters.inferenceErrors,
        delivered: stats.delivered,
        outboxDepth: stats.depth,
        // stretches of commits that left the restart state out (state-watch.ts); also in the status and /health
        statesNotStored: stats.statesNotStored,
      };
    },
  };
}

/** The signals of the active and shadow models, computed once per generation of what runs. */
function runningSignals(current: () => ScoringSet): () => readonly string[] {
  let generation = -1;
  let names: readonly string[] = [];
  return () => {
    const set = current();
    if (set.generation !== generation) {
      generation = set.generation;
      const specs = [set.active, set.shadow].flatMap((s) => (s === undefined ? [] : [s.model.card.featureSpec]));
      names = [...new Set(specs.flatMap((spec) => spec.signals.map((s) => s.name)))];
    }
    return names;
  };
}

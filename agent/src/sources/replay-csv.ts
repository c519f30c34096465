/**
 * Replays a CSV file as live sensor data, paced on event time: at speed S one hour of data takes
 * 3600 / S seconds of wall time (`max`: as fast as the pipeline takes it). Handles the Azure PdM
 * telemetry (datetime, machineID, volt, ...; filtered to one machine) and AI4I (BOM, no time column:
 * synthetic time start + i * interval). Ground-truth events are interleaved at their data time. The
 * machine's log files (`logFiles`) become the log signals of each reading (log-feed.ts).
 *
 * Each reading carries the signals of the models that run at that moment (`signals()`), so a model
 * deployed while the replay runs gets its own signals from its first reading.
 */
import type { Logger } from 'pino';
import { PdmError, logSignalOf, type ReadingRejectReason } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { ReplayCsvConfig } from '../config/schema.js';
import type { Mark, ResumePoint } from '../features/window-tail.js';
import { columnIndexes, openCsv, readCsvHeader, type CsvRows } from './csv.js';
import { loadEvents } from './events-file.js';
import { LogFeed, loadLog } from './log-feed.js';
import type { RawReading, SensorSource, SignalSupply, SourceEvent, SourceSink, SourceSummary } from './source.js';
import { parseEventTime } from './time.js';

export interface ReplayCsvDeps {
  readonly config: ReplayCsvConfig;
  /**
   * The signal names of the models that run now (asked at every row): a log signal comes from the
   * log files, any other from its mapped column.
   */
  readonly signals: () => readonly string[];
  readonly clock: Clock;
  readonly log: Logger;
  /** Where an earlier run stopped (config `resume`): the rows and events it committed are skipped. */
  readonly position?: { load(): ResumePoint | undefined };
}

/** How a row is read for one set of running signals. */
interface ReadPlan {
  readonly signals: readonly string[];
  readonly columns: readonly { signal: string; column: number }[];
  readonly log: readonly string[];
}

interface Columns {
  readonly header: readonly string[];
  readonly time: number | undefined;
  readonly filter: number | undefined;
}

export class ReplayCsvSource implements SensorSource, SignalSupply {
  readonly name = 'replay-csv';
  readonly done: Promise<SourceSummary>;
  private readonly abort = new AbortController();
  private settle!: { resolve: (s: SourceSummary) => void; reject: (e: unknown) => void };
  private events: SourceEvent[] = [];
  private nextEvent = 0;
  private eventsSent = 0;
  private lastTime = Number.NEGATIVE_INFINITY;
  private pace: { eventT0: number; wallT0: number } | undefined;
  /** The machine's log; before start only its kinds (what it provides) are known. */
  private machineLog: LogFeed;
  private header: readonly string[] | undefined;
  private plan: ReadPlan | undefined;
  /** Set while the rows an earlier run committed (up to this time, this many at it) are being skipped. */
  private resumeAfter: Mark | undefined;
  private skipped = 0;
  /** Rows at exactly `resumeAfter.time` skipped so far. */
  private skippedAtTime = 0;

  constructor(private readonly deps: ReplayCsvDeps) {
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // a failure is reported through `done`; callers that never await it must not crash the process
    this.done.catch(() => undefined);
    this.machineLog = new LogFeed([], new Set(deps.config.logFiles.map((f) => f.kind)));
  }

  unprovided(signals: readonly string[]): string | undefined {
    const { config } = this.deps;
    // read here, not at start: models are loaded (and checked) before the source starts
    this.header ??= readCsvHeader(config.file);
    const missing = new Map<string, string[]>();
    for (const signal of signals) {
      if (this.machineLog.provides(signal)) continue;
      const column = config.signals[signal] ?? signal;
      // an unreadable file is the start's to report, with its cause
      if (this.header === undefined || this.header.includes(column)) continue;
      const log = logSignalOf(signal);
      const noColumn = `no such column in ${config.file}`;
      const why = log === undefined ? noColumn : `no source.logFiles entry of kind "${log.kind === 'error-count' ? 'error' : 'maintenance'}" and ${noColumn}`;
      missing.set(why, [...(missing.get(why) ?? []), column === signal ? signal : `${signal} (column "${column}")`]);
    }
    if (missing.size === 0) return undefined;
    return [...missing].map(([why, names]) => `${names.join(', ')} (${why})`).join('; ');
  }

  async start(sink: SourceSink): Promise<void> {
    const { config, log } = this.deps;
    const loaded = loadEvents(config.eventsFiles, config.filter);
    this.events = loaded.events;
    if (loaded.unreadable > 0) log.warn({ unreadable: loaded.unreadable }, 'event rows without a readable time skipped');
    const loadedLog = loadLog(config.logFiles, config.filter);
    if (loadedLog.unreadable > 0) log.warn({ unreadable: loadedLog.unreadable }, 'log rows without a readable time or code skipped');
    this.machineLog = new LogFeed(loadedLog.entries, new Set(config.logFiles.map((f) => f.kind)));
    const csv = await openCsv(config.file);
    if (config.resume) this.resumeFrom(this.deps.position?.load());
    let columns: Columns;
    try {
      columns = this.columnsOf(csv.header);
    } catch (err) {
      csv.close();
      throw err;
    }
    log.info({ file: config.file, filter: config.filter, speed: config.speed, events: this.events.length, logEntries: loadedLog.entries.length }, 'replay started');
    this.run(csv, columns, sink).then(this.settle.resolve, (cause: unknown) => {
      this.settle.reject(new PdmError('SOURCE_FAILED', 'replay failed', { cause, context: { file: config.file } }));
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done.catch(() => undefined);
  }

  /** Fails listing every column missing for the signals that run now, the time and the filter. */
  private columnsOf(header: readonly string[]): Columns {
    const { config } = this.deps;
    const signalColumns = this.deps.signals().filter((s) => !this.machineLog.provides(s)).map((s) => config.signals[s] ?? s);
    const extra = [config.timeColumn, config.filter?.column].filter((c): c is string => c !== undefined);
    columnIndexes(config.file, header, [...signalColumns, ...extra]);
    return {
      header,
      time: config.timeColumn === undefined ? undefined : header.indexOf(config.timeColumn),
      filter: config.filter === undefined ? undefined : header.indexOf(config.filter.column),
    };
  }

  /** The raw values of a row for the signals that run now; log signals are merged at valid times. */
  private valuesOf(record: readonly string[], header: readonly string[], time: number | undefined): Record<string, unknown> {
    const plan = this.planFor(this.deps.signals(), header);
    const values: Record<string, unknown> = {};
    for (const { signal, column } of plan.columns) values[signal] = record[column];
    return time === undefined ? values : Object.assign(values, this.machineLog.valuesAt(time, plan.log));
  }

  /**
   * Where each running signal comes from: a CSV column or the machine's log. Worked out again only when
   * what runs changes (`signals()` returns the same array until then), not for every row.
   */
  private planFor(signals: readonly string[], header: readonly string[]): ReadPlan {
    if (this.plan?.signals === signals) return this.plan;
    const log = signals.filter((s) => this.machineLog.provides(s));
    const columns = signals
      .filter((s) => !log.includes(s))
      .map((signal) => ({ signal, column: header.indexOf(this.deps.config.signals[signal] ?? signal) }))
      .filter((c) => c.column >= 0);
    this.plan = { signals, columns, log };
    return this.plan;
  }

  private async run(csv: CsvRows, columns: Columns, sink: SourceSink): Promise<SourceSummary> {
    const { config } = this.deps;
    let rows = 0;
    let ended = false;
    try {
      for (;;) {
        if (this.abort.signal.aborted) break;
        const next = await csv.rows.next();
        if (next.done === true || (config.maxRows !== undefined && rows >= config.maxRows)) {
          ended = true;
          break;
        }
        const record = next.value;
        if (columns.filter !== undefined && record[columns.filter] !== config.filter!.value) continue;
        const { time, problem } = this.timeOf(record, columns, rows + this.skipped);
        if (this.skipResumed(time, problem, rows)) continue;
        rows++;
        if (problem === undefined) {
          await this.emitEventsUpTo(time, sink);
          await this.waitFor(time, sink);
          this.lastTime = time;
        }
        const values = this.valuesOf(record, columns.header, problem === undefined ? time : undefined);
        const reading: RawReading = problem === undefined ? { time, values } : { time: Number.NaN, timeProblem: problem, values };
        await sink.reading(reading);
      }
    } finally {
      csv.close();
    }
    if (this.resumeAfter !== undefined) this.deps.log.info({ after: new Date(this.resumeAfter.time).toISOString(), skippedRows: this.skipped, row: null }, 'replay resumed');
    const unsent = this.events.length - this.nextEvent;
    this.deps.log.info({ rows, skippedRows: this.skipped, events: this.eventsSent, eventsAfterEnd: unsent, ended }, 'replay finished');
    return { rows, events: this.eventsSent, ended };
  }

  /**
   * An earlier run committed the rows up to `point.readings` (the first `count` at its time: rows with
   * equal times may be split by a commit) and the events up to `point.events`: none is sent again. Every
   * event at or before the last row's time went before that row. The windows' time order goes on from
   * there (an earlier row is out of range, as in one long run).
   */
  private resumeFrom(point: ResumePoint | undefined): void {
    if (point === undefined) return;
    const { readings, events } = point;
    this.resumeAfter = readings;
    this.lastTime = readings.time;
    let atEventTime = 0;
    for (; this.nextEvent < this.events.length; this.nextEvent++) {
      const time = this.events[this.nextEvent]!.time;
      if (time <= readings.time) continue;
      if (events === undefined || time > events.time) break;
      // events with equal times are committed one by one: skip only those that were
      if (time === events.time && ++atEventTime > events.count) break;
    }
  }

  /**
   * True for a row an earlier run delivered; the log is still fed up to it, so error counts go on. The
   * mark's count holds the rows at its time and the rows with an unusable time after them (the pipeline
   * counts those in the mark, restart-state.ts): a row with an unusable time before the first row at the
   * mark's time was delivered; one after it only while the count lasts.
   */
  private skipResumed(time: number, problem: ReadingRejectReason | undefined, rows: number): boolean {
    const after = this.resumeAfter;
    if (after === undefined) return false;
    const delivered = problem !== undefined
      ? this.skippedAtTime === 0 || this.skippedAtTime++ < after.count
      : time < after.time || (time === after.time && this.skippedAtTime++ < after.count);
    if (delivered) {
      this.skipped++;
      if (problem === undefined) this.machineLog.valuesAt(time, this.deps.signals());
      return true;
    }
    this.resumeAfter = undefined;
    this.deps.log.info({ after: new Date(after.time).toISOString(), skippedRows: this.skipped, row: rows + this.skipped + 1, time: problem === undefined ? new Date(time).toISOString() : null }, 'replay resumed');
    return false;
  }

  private timeOf(record: string[], columns: Columns, index: number): { time: number; problem?: ReadingRejectReason } {
    const synthetic = this.deps.config.syntheticTime;
    let time: number | undefined;
    if (synthetic !== undefined) {
      time = Date.parse(synthetic.start) + index * synthetic.intervalSeconds * 1000;
    } else {
      const raw = record[columns.time!];
      if (raw === undefined || raw === '') return { time: Number.NaN, problem: 'missing' };
      time = parseEventTime(raw);
      if (time === undefined) return { time: Number.NaN, problem: 'wrong-type' };
    }
    // a reading older than the one before it would break the windows' time order
    if (time < this.lastTime) return { time: Number.NaN, problem: 'out-of-range' };
    return { time };
  }

  /**
   * Events in the replayed period are delivered just before the first reading at or after their time.
   * Events before the first reading are history outside the replay and are skipped; so are those after
   * the last reading (counted in the "replay finished" log line).
   */
  private async emitEventsUpTo(time: number, sink: SourceSink): Promise<void> {
    if (this.lastTime === Number.NEGATIVE_INFINITY) {
      while (this.nextEvent < this.events.length && this.events[this.nextEvent]!.time < time) this.nextEvent++;
    }
    while (this.nextEvent < this.events.length && this.events[this.nextEvent]!.time <= time) {
      await sink.event(this.events[this.nextEvent++]!);
      this.eventsSent++;
    }
  }

  /** Paces on event time: wall time since the first reading = event time since it / speed. */
  private async waitFor(time: number, sink: SourceSink): Promise<void> {
    const { speed } = this.deps.config;
    const { clock } = this.deps;
    if (speed === 'max') return;
    if (this.pace === undefined) {
      this.pace = { eventT0: time, wallT0: clock.monotonic() };
      return;
    }
    const wait = this.pace.wallT0 + (time - this.pace.eventT0) / speed - clock.monotonic();
    if (wait < 1) return;
    await sink.idle();
    await clock.sleep(wait, this.abort.signal);
  }
}

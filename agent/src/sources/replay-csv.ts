/**
 * Replays a CSV file as live sensor data, paced on event time: at speed S one hour of data takes
 * 3600 / S seconds of wall time (`max`: as fast as the pipeline takes it). Handles the Azure PdM
 * telemetry (datetime, machineID, volt, ...; filtered to one machine) and AI4I (BOM, no time column:
 * synthetic time start + i * interval). Ground-truth events are interleaved at their data time.
 */
import type { Logger } from 'pino';
import { PdmError, type ReadingRejectReason } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { ReplayCsvConfig } from '../config/schema.js';
import { columnIndexes, openCsv, type CsvRows } from './csv.js';
import { loadEvents } from './events-file.js';
import type { RawReading, SensorSource, SourceEvent, SourceSink, SourceSummary } from './source.js';
import { parseEventTime } from './time.js';

export interface ReplayCsvDeps {
  readonly config: ReplayCsvConfig;
  /** The model's signal names, in spec order; each is read from its mapped column. */
  readonly signals: readonly string[];
  readonly clock: Clock;
  readonly log: Logger;
}

interface Columns {
  readonly signals: readonly number[];
  readonly time: number | undefined;
  readonly filter: number | undefined;
}

export class ReplayCsvSource implements SensorSource {
  readonly name = 'replay-csv';
  readonly done: Promise<SourceSummary>;
  private readonly abort = new AbortController();
  private settle!: { resolve: (s: SourceSummary) => void; reject: (e: unknown) => void };
  private events: SourceEvent[] = [];
  private nextEvent = 0;
  private eventsSent = 0;
  private lastTime = Number.NEGATIVE_INFINITY;
  private pace: { eventT0: number; wallT0: number } | undefined;

  constructor(private readonly deps: ReplayCsvDeps) {
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // a failure is reported through `done`; callers that never await it must not crash the process
    this.done.catch(() => undefined);
  }

  async start(sink: SourceSink): Promise<void> {
    const { config, log } = this.deps;
    const loaded = loadEvents(config.eventsFiles, config.filter);
    this.events = loaded.events;
    if (loaded.unreadable > 0) log.warn({ unreadable: loaded.unreadable }, 'event rows without a readable time skipped');
    const csv = await openCsv(config.file);
    let columns: Columns;
    try {
      columns = this.columnsOf(csv.header);
    } catch (err) {
      csv.close();
      throw err;
    }
    log.info({ file: config.file, filter: config.filter, speed: config.speed, events: this.events.length }, 'replay started');
    this.run(csv, columns, sink).then(this.settle.resolve, (cause: unknown) => {
      this.settle.reject(new PdmError('SOURCE_FAILED', 'replay failed', { cause, context: { file: config.file } }));
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done.catch(() => undefined);
  }

  private columnsOf(header: readonly string[]): Columns {
    const { config, signals } = this.deps;
    const signalColumns = signals.map((s) => config.signals[s] ?? s);
    const extra = [config.timeColumn, config.filter?.column].filter((c): c is string => c !== undefined);
    const indexes = columnIndexes(config.file, header, [...signalColumns, ...extra]);
    return {
      signals: indexes.slice(0, signals.length),
      time: config.timeColumn === undefined ? undefined : header.indexOf(config.timeColumn),
      filter: config.filter === undefined ? undefined : header.indexOf(config.filter.column),
    };
  }

  private async run(csv: CsvRows, columns: Columns, sink: SourceSink): Promise<SourceSummary> {
    const { config, signals } = this.deps;
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
        const { time, problem } = this.timeOf(record, columns, rows);
        rows++;
        if (problem === undefined) {
          await this.emitEventsUpTo(time, sink);
          await this.waitFor(time, sink);
          this.lastTime = time;
        }
        const values: Record<string, unknown> = {};
        signals.forEach((s, i) => (values[s] = record[columns.signals[i]!]));
        const reading: RawReading = problem === undefined ? { time, values } : { time: Number.NaN, timeProblem: problem, values };
        await sink.reading(reading);
      }
    } finally {
      csv.close();
    }
    const unsent = this.events.length - this.nextEvent;
    this.deps.log.info({ rows, events: this.eventsSent, eventsAfterEnd: unsent, ended }, 'replay finished');
    return { rows, events: this.eventsSent, ended };
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

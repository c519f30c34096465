import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isPdmError } from '@pdm/protocol';
import { replayCsvSchema, type ReplayCsvConfig } from '../config/schema.js';
import { FakeClock } from '../testing/fake-clock.js';
import { silentLogger } from '../testing/logger.js';
import { ReplayCsvSource } from './replay-csv.js';
import type { RawReading, SourceEvent, SourceSink } from './source.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const AZURE = `datetime,machineID,volt,rotate,pressure,vibration
2015-01-01 06:00:00,1,176.2,418.5,113.0,45.0
2015-01-01 06:00:00,3,170.0,400.0,100.0,40.0
2015-01-01 07:00:00,3,171.0,401.0,101.0,41.0
2015-01-01 07:00:00,1,162.8,402.7,95.4,43.4
2015-01-01 08:00:00,3,NaN,402.0,,42.0
2015-01-01 09:00:00,3,173.0,403.0,103.0
2015-01-01 10:00:00,3,174.0,404.0,104.0,44.0
`;
const FAILURES = `"datetime","machineID","failure"\r\n2014-12-01 06:00:00,3,"comp4"\r\n2015-01-01 08:00:00,3,"comp2"\r\n2015-01-01 08:00:00,1,"comp1"\r\n2015-03-01 06:00:00,3,"comp1"\r\n`;
const MAINT = `"datetime","machineID","comp"\r\n2015-01-01 09:30:00,3,"comp3"\r\n`;

const AI4I = `\uFEFFUDI,Product ID,Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min],Machine failure,TWF,HDF,PWF,OSF,RNF
1,M14860,M,298.1,308.6,1551,42.8,0,0,0,0,0,0,0
2,L47181,L,298.2,308.7,1408,46.3,3,0,0,0,0,0,0
3,L47182,X,298.1,308.5,1498,49.4,5,0,0,0,0,0,0
`;

class CollectingSink implements SourceSink {
  readonly readings: RawReading[] = [];
  readonly events: SourceEvent[] = [];
  readonly order: string[] = [];
  idles = 0;
  async reading(r: RawReading): Promise<void> {
    this.readings.push(r);
    this.order.push(`r:${Number.isNaN(r.time) ? 'bad' : new Date(r.time).toISOString()}`);
  }
  async event(e: SourceEvent): Promise<void> {
    this.events.push(e);
    this.order.push(`e:${e.type}:${new Date(e.time).toISOString()}`);
  }
  async idle(): Promise<void> {
    this.idles++;
  }
}

function config(input: Record<string, unknown>): ReplayCsvConfig {
  return replayCsvSchema.parse({ type: 'replay-csv', ...input });
}

async function replay(cfg: ReplayCsvConfig, signals: string[], clock = new FakeClock()) {
  const sink = new CollectingSink();
  const source = new ReplayCsvSource({ config: cfg, signals: () => signals, clock, log: silentLogger });
  await source.start(sink);
  const summary = await source.done;
  return { sink, summary, clock };
}

const azureSignals = ['volt', 'rotate', 'pressure', 'vibration'];

describe('ReplayCsvSource', () => {
  it('replays Azure PdM telemetry for one machine with events interleaved at their data time', async () => {
    const cfg = config({
      file: file('azure.csv', AZURE),
      filter: 'machineID=3',
      timeColumn: 'datetime',
      eventsFiles: [
        { file: file('failures.csv', FAILURES), type: 'failure' },
        { file: file('maint.csv', MAINT), type: 'maintenance' },
      ],
    });
    const { sink, summary } = await replay(cfg, azureSignals);
    expect(summary).toEqual({ rows: 5, events: 2, ended: true });
    expect(sink.readings[0]).toEqual({
      time: Date.parse('2015-01-01T06:00:00Z'),
      values: { volt: '170.0', rotate: '400.0', pressure: '100.0', vibration: '40.0' },
    });
    // bad values pass through untouched: judging them is the feature stage's job
    expect(sink.readings[2]!.values).toEqual({ volt: 'NaN', rotate: '402.0', pressure: '', vibration: '42.0' });
    expect(sink.readings[3]!.values['vibration']).toBeUndefined();
    // the 2014 failure predates the replay and the March one follows it: neither is sent
    expect(sink.order).toEqual([
      'r:2015-01-01T06:00:00.000Z',
      'r:2015-01-01T07:00:00.000Z',
      'e:failure:2015-01-01T08:00:00.000Z',
      'r:2015-01-01T08:00:00.000Z',
      'r:2015-01-01T09:00:00.000Z',
      'e:maintenance:2015-01-01T09:30:00.000Z',
      'r:2015-01-01T10:00:00.000Z',
    ]);
    expect(sink.events[0]).toEqual({ time: Date.parse('2015-01-01T08:00:00Z'), type: 'failure', component: 'comp2', source: 'replay' });
  });

  it('paces on event time: at speed 3600 an hour of data takes one second', async () => {
    const cfg = config({ file: file('azure-paced.csv', AZURE), filter: 'machineID=3', timeColumn: 'datetime', speed: 3600 });
    const { sink, clock } = await replay(cfg, azureSignals);
    expect(clock.sleeps).toEqual([1000, 1000, 1000, 1000]);
    expect(sink.idles).toBe(4);
  });

  it('does not pace at speed max', async () => {
    const cfg = config({ file: file('azure-max.csv', AZURE), timeColumn: 'datetime' });
    const { sink, clock } = await replay(cfg, azureSignals);
    expect(clock.sleeps).toEqual([]);
    expect(sink.readings).toHaveLength(7);
  });

  it('replays AI4I: byte-order mark, synthetic time, categorical Type, mapped columns', async () => {
    const cfg = config({
      file: file('ai4i.csv', AI4I),
      syntheticTime: { start: '2020-01-01T00:00:00Z', intervalSeconds: 60 },
      signals: { type: 'Type', airTemp: 'Air temperature [K]', torque: 'Torque [Nm]', UDI: 'UDI' },
    });
    const { sink, summary } = await replay(cfg, ['UDI', 'type', 'airTemp', 'torque']);
    expect(summary.rows).toBe(3);
    expect(sink.readings.map((r) => new Date(r.time).toISOString())).toEqual([
      '2020-01-01T00:00:00.000Z',
      '2020-01-01T00:01:00.000Z',
      '2020-01-01T00:02:00.000Z',
    ]);
    expect(sink.readings[0]!.values).toEqual({ UDI: '1', type: 'M', airTemp: '298.1', torque: '42.8' });
    expect(sink.readings[2]!.values['type']).toBe('X');
  });

  it('marks unreadable, missing and backwards times instead of stopping', async () => {
    const text = 'datetime,v\n2015-01-01 06:00:00,1\nyesterday,2\n,3\n2015-01-01 05:00:00,4\n2015-01-01T07:00:00+02:00,5\n';
    const { sink } = await replay(config({ file: file('times.csv', text), timeColumn: 'datetime' }), ['v']);
    expect(sink.readings.map((r) => r.timeProblem)).toEqual([undefined, 'wrong-type', 'missing', 'out-of-range', 'out-of-range']);
    const ok = await replay(config({ file: file('times2.csv', 'datetime,v\n2015-01-01T07:00:00+01:00,1\n2015-01-01 06:30:00,2\n'), timeColumn: 'datetime' }), ['v']);
    expect(ok.sink.readings.map((r) => r.time)).toEqual([Date.parse('2015-01-01T06:00:00Z'), Date.parse('2015-01-01T06:30:00Z')]);
  });

  it('resuming at a mark, skips rows of no time before it and those its count holds, and sends those after it', async () => {
    // 06:00, (no time), 07:00, 07:00, (no time), (no time), 08:00
    const text = 'datetime,v\n2015-01-01 06:00:00,1\n,2\n2015-01-01 07:00:00,3\n2015-01-01 07:00:00,4\n,5\n,6\n2015-01-01 08:00:00,7\n';
    const at7 = Date.parse('2015-01-01T07:00:00Z');
    const sent = async (count: number): Promise<string[]> => {
      const sink = new CollectingSink();
      const source = new ReplayCsvSource({
        config: config({ file: file(`untimed-${count}.csv`, text), timeColumn: 'datetime', resume: true }), signals: () => ['v'], clock: new FakeClock(), log: silentLogger,
        position: { load: () => ({ readings: { time: at7, count }, events: undefined }) },
      });
      await source.start(sink);
      await source.done;
      return sink.readings.map((r) => String(r.values['v']));
    };
    // the mark after both 07:00 rows: the rows of no time after them were not counted
    expect(await sent(2)).toEqual(['5', '6', '7']);
    // the mark's count holds one of them (the pipeline counts rows of no time after the mark's readings)
    expect(await sent(3)).toEqual(['6', '7']);
    expect(await sent(4)).toEqual(['7']);
    // in the middle of the rows at 07:00
    expect(await sent(1)).toEqual(['4', '5', '6', '7']);
  });

  it('stops after maxRows and when stopped', async () => {
    const { summary } = await replay(config({ file: file('azure-max-rows.csv', AZURE), timeColumn: 'datetime', maxRows: 2 }), azureSignals);
    expect(summary).toEqual({ rows: 2, events: 0, ended: true });

    const sink = new CollectingSink();
    const source = new ReplayCsvSource({
      config: config({ file: file('azure-stop.csv', AZURE), timeColumn: 'datetime' }),
      signals: () => azureSignals,
      clock: new FakeClock(),
      log: silentLogger,
    });
    sink.reading = async (r) => {
      sink.readings.push(r);
      // not awaited: stop() waits for the sink call in progress to return
      if (sink.readings.length === 2) void source.stop();
    };
    await source.start(sink);
    expect(await source.done).toEqual({ rows: 2, events: 0, ended: false });
  });

  it('fails at start naming every missing column, and on a missing file', async () => {
    const cfg = config({ file: file('azure-cols.csv', AZURE), timeColumn: 'time', filter: 'machine=3' });
    const source = new ReplayCsvSource({ config: cfg, signals: () => ['volt', 'temp'], clock: new FakeClock(), log: silentLogger });
    const err = await source.start(new CollectingSink()).catch((e: unknown) => e);
    expect(isPdmError(err, 'SOURCE_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/lacks column\(s\) "temp", "time", "machine"/);

    const missing = new ReplayCsvSource({
      config: config({ file: join(dir, 'nope.csv'), timeColumn: 'datetime' }),
      signals: () => ['v'],
      clock: new FakeClock(),
      log: silentLogger,
    });
    await expect(missing.start(new CollectingSink())).rejects.toMatchObject({ code: 'SOURCE_FAILED' });
  });

  it('says which signals it cannot deliver before it starts: no column, no log file of that kind', () => {
    const path = file('azure-supply.csv', AZURE);
    const errors = file('errors-supply.csv', '"datetime","machineID","errorID"\n');
    const cfg = config({ file: path, timeColumn: 'datetime', signals: { temp: 'temperature' }, logFiles: [{ file: errors, kind: 'error' }] });
    const source = new ReplayCsvSource({ config: cfg, signals: () => [], clock: new FakeClock(), log: silentLogger });
    expect(source.unprovided(['volt', 'errors_error7'])).toBeUndefined();
    expect(source.unprovided(['volt', 'temp', 'hours_since_comp1', 'hours_since_comp2', 'speed'])).toBe(
      `temp (column "temperature"), speed (no such column in ${path}); ` +
        `hours_since_comp1, hours_since_comp2 (no source.logFiles entry of kind "maintenance" and no such column in ${path})`,
    );
    // an unreadable file is reported by start, with its cause
    const nope = new ReplayCsvSource({ config: config({ file: join(dir, 'nope.csv'), timeColumn: 'datetime' }), signals: () => [], clock: new FakeClock(), log: silentLogger });
    expect(nope.unprovided(['volt'])).toBeUndefined();
  });

  it('replays the real Azure PdM file for one machine with its failures', async () => {
    const base = new URL('../../../models/data/azure-pdm/', import.meta.url).pathname;
    const telemetry = join(base, 'PdM_telemetry_machines1-15_2015-01-01_to_2015-04-01.csv');
    const cfg = config({
      file: telemetry,
      filter: 'machineID=3',
      timeColumn: 'datetime',
      eventsFiles: [{ file: join(base, 'PdM_failures.csv'), type: 'failure' }],
    });
    const { sink, summary } = await replay(cfg, azureSignals);
    expect(summary.rows).toBe(2160);
    expect(sink.readings[0]!.time).toBe(Date.parse('2015-01-01T06:00:00Z'));
    expect(sink.readings.at(-1)!.time).toBe(Date.parse('2015-04-01T05:00:00Z'));
    // machine 3 failed on 2015-01-07 (comp2) and 2015-02-06 (comp1) within the telemetry period
    expect(sink.events.map((e) => [new Date(e.time).toISOString(), e.component])).toEqual([
      ['2015-01-07T06:00:00.000Z', 'comp2'],
      ['2015-02-06T06:00:00.000Z', 'comp1'],
    ]);
  });

  it('replays the real AI4I file', async () => {
    const cfg = config({
      file: new URL('../../../models/data/ai4i2020/ai4i2020.csv', import.meta.url).pathname,
      syntheticTime: { start: '2020-01-01T00:00:00Z', intervalSeconds: 600 },
      signals: { type: 'Type', torque: 'Torque [Nm]' },
    });
    const { sink, summary } = await replay(cfg, ['type', 'torque']);
    expect(summary.rows).toBe(10_000);
    expect(new Set(sink.readings.map((r) => r.values['type']))).toEqual(new Set(['L', 'M', 'H']));
  });
});

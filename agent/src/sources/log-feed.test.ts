import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogSignals, isPdmError, type LogEntry } from '@pdm/protocol';
import { replayCsvSchema } from '../config/schema.js';
import { LogFeed, loadLog } from './log-feed.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-log-feed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const ERRORS = file('errors.csv', '"datetime","machineID","errorID"\n2015-01-01 05:00:00,3,"error1"\n2015-01-01 07:00:00,3,"error1"\n2015-01-01 07:00:00,1,"error2"\n2015-01-01 07:30:00,3,"error2"\nbad time,3,"error1"\n2015-01-01 09:00:00,3,"error1"\n');
const MAINT = file('maint.csv', '"datetime","machineID","comp"\n2014-12-31 06:00:00,3,"comp2"\n2015-01-01 08:00:00,3,"comp1"\n2015-01-01 08:00:00,1,"comp3"\n');
const h = (hour: number): number => Date.UTC(2015, 0, 1, hour);

function sourceConfig(logFiles: unknown[], filter = 'machineID=3') {
  return replayCsvSchema.parse({ type: 'replay-csv', file: 'x.csv', timeColumn: 'datetime', filter, logFiles });
}

const NAMES = ['errors_error1', 'errors_error2', 'hours_since_comp1', 'hours_since_comp2'];

describe('loadLog', () => {
  it('reads error and maintenance files for the filtered machine, in time order, with default columns', () => {
    const cfg = sourceConfig([{ file: ERRORS, kind: 'error' }, { file: MAINT, kind: 'maintenance' }]);
    const { entries, unreadable } = loadLog(cfg.logFiles, cfg.filter);
    expect(unreadable).toBe(1);
    expect(entries.map((e) => `${new Date(e.time).toISOString().slice(0, 16)} ${e.kind} ${e.code}`)).toEqual([
      '2014-12-31T06:00 maintenance comp2',
      '2015-01-01T05:00 error error1',
      '2015-01-01T07:00 error error1',
      '2015-01-01T07:30 error error2',
      '2015-01-01T08:00 maintenance comp1',
      '2015-01-01T09:00 error error1',
    ]);
  });

  it('takes a file\'s own filter and code column over the defaults, and names a missing column', () => {
    const renamed = file('maint-renamed.csv', 'when,machine,part\n2015-01-01 08:00:00,1,comp3\n2015-01-01 09:00:00,3,comp4\n');
    const cfg = sourceConfig([{ file: renamed, kind: 'maintenance', timeColumn: 'when', codeColumn: 'part', filter: 'machine=1' }]);
    expect(loadLog(cfg.logFiles, cfg.filter).entries).toEqual([{ time: h(8), kind: 'maintenance', code: 'comp3' }]);

    const wrong = sourceConfig([{ file: renamed, kind: 'error' }]);
    const err = (() => {
      try {
        return loadLog(wrong.logFiles, wrong.filter);
      } catch (e) {
        return e;
      }
    })();
    expect(isPdmError(err, 'SOURCE_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/lacks column\(s\) "datetime", "errorID", "machineID"/);
  });
});

describe('LogFeed', () => {
  const cfg = sourceConfig([{ file: ERRORS, kind: 'error' }, { file: MAINT, kind: 'maintenance' }]);
  const { entries } = loadLog(cfg.logFiles, cfg.filter);

  it('provides only the log signals of a configured kind', () => {
    const errorsOnly = new LogFeed(entries, new Set<LogEntry['kind']>(['error']));
    expect(['errors_error9', 'hours_since_comp1', 'volt'].map((s) => errorsOnly.provides(s))).toEqual([true, false, false]);
  });

  it('counts maintenance before the first reading, errors only since the previous reading', () => {
    const feed = new LogFeed(entries, new Set<LogEntry['kind']>(['error', 'maintenance']));
    // the 05:00 error is before the first reading (06:00): no previous reading to count from
    expect(feed.valuesAt(h(6), NAMES)).toEqual({ errors_error1: 0, errors_error2: 0, hours_since_comp1: undefined, hours_since_comp2: 24 });
    expect(feed.valuesAt(h(7), NAMES)).toEqual({ errors_error1: 1, errors_error2: 0, hours_since_comp1: undefined, hours_since_comp2: 25 });
    expect(feed.valuesAt(h(8), NAMES)).toEqual({ errors_error1: 0, errors_error2: 1, hours_since_comp1: 0, hours_since_comp2: 26 });
  });

  it('a model that starts reading log signals mid-stream gets the values of a feed that had them from the start', () => {
    const times = [h(6), h(7), h(8), h(9), h(10)];
    const reference = new LogSignals(NAMES);
    let next = 0;
    const want = times.map((t) => {
      while (next < entries.length && entries[next]!.time <= t) reference.record(entries[next++]!);
      return reference.valuesAt(t);
    });
    const feed = new LogFeed(entries, new Set<LogEntry['kind']>(['error', 'maintenance']));
    // a sensor-only model first, then one reading two log signals, then one reading all four
    const wanted = [['volt'], ['volt'], ['volt', 'errors_error1', 'hours_since_comp2'], NAMES, NAMES];
    const got = times.map((t, i) => feed.valuesAt(t, wanted[i]!));
    expect(got[0]).toEqual({});
    expect(got.slice(2)).toEqual(want.slice(2).map((values, i) => (i === 0 ? { errors_error1: values['errors_error1'], hours_since_comp2: values['hours_since_comp2'] } : values)));
  });
});

/**
 * The feature-window snapshot on a real SQLite outbox file: what a restart rebuilds is the windows an
 * uninterrupted reader holds, and a snapshot that cannot be trusted (corrupt, another source, another
 * spec, another resume point, values no reading check lets through) is logged and ignored, never thrown.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { FeatureSpec, ModelRef } from '@pdm/protocol';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { eventDraft } from '../outbox/suite-drafts.js';
import { FakeClock } from '../testing/fake-clock.js';
import { captureLogger, silentLogger } from '../testing/logger.js';
import { tinySpec } from '../testing/tiny-model.js';
import { AssetReader } from './asset-reader.js';
import { FeatureTail, fingerprint, type ResumePoint, type TailState } from './window-tail.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-window-tail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = new FakeClock();
let n = 0;

const spec = tinySpec({
  signals: [
    { name: 'a', min: -100, max: 100 },
    { name: 'kind', min: 0, max: 2, categories: ['L', 'M', 'H'] },
  ],
  features: [
    { name: 'a_mean_4', signal: 'a', agg: 'mean', window: 4 },
    { name: 'a_slope_4', signal: 'a', agg: 'slope', window: 4 },
    { name: 'kind', signal: 'kind', agg: 'last', window: 1 },
  ],
});
const model: ModelRef = { name: 'tiny', version: '1.0.0' };
const NO_ALERT = { over: false, lastRaisedAt: Number.NEGATIVE_INFINITY };
/** The state of a snapshot through reading `time`, the only one at that time. */
const stateAt = (time: number, extra: Partial<TailState> = {}): TailState => ({ readings: { time, count: 1 }, events: undefined, model, alerts: NO_ALERT, ...extra });
/** A source resumed after reading `time`, the only one at that time. */
const after = (time: number): ResumePoint => ({ readings: { time, count: 1 }, events: undefined });
const reading = (i: number) => ({ time: 1000 * i, values: { a: String((i * 7) % 23), kind: ['L', 'M', 'H'][i % 3] } });

function outboxAt(file: string): SqliteOutbox {
  const outbox = new SqliteOutbox({ file, deviceId: 'dev-1', synchronous: 'NORMAL', clock, log: silentLogger });
  outbox.start();
  return outbox;
}

interface Setup {
  readonly file: string;
  /** The reader that took readings 0..through, whose tail was committed. */
  readonly reader: AssetReader;
  readonly through: number;
}

/** A reader fed readings 0..k, its snapshot committed with a record in a fresh outbox file. */
function committed(k: number, snapSpec: FeatureSpec = spec, extra: Partial<TailState> = {}): Setup {
  const file = join(dir, `t-${n++}`, 'outbox.sqlite');
  const outbox = outboxAt(file);
  const reader = new AssetReader(snapSpec);
  for (let i = 0; i <= k; i++) expect(reader.accept(reading(i)).ok).toBe(true);
  const tail = new FeatureTail({ outbox, assetId: 'm-1', source: 'data.csv', resumedAfter: () => undefined, log: silentLogger });
  outbox.commit([eventDraft()], tail.snapshot(snapSpec, stateAt(reading(k).time, extra), reader.tail()));
  outbox.stop();
  return { file, reader, through: reading(k).time };
}

function restarted(file: string, opts: { resumedAfter?: ResumePoint; source?: string } = {}) {
  const outbox = outboxAt(file);
  const captured = captureLogger();
  const tail = new FeatureTail({
    outbox, assetId: 'm-1', source: opts.source ?? 'data.csv', resumedAfter: () => opts.resumedAfter, log: captured.log,
  });
  return { outbox, tail, lines: captured.lines };
}

const rows = (reader: AssetReader, from: number, to: number): number[][] => {
  const out: number[][] = [];
  for (let i = from; i <= to; i++) {
    const r = reader.accept(reading(i));
    out.push(r.ok && r.row !== undefined ? Array.from(r.row) : []);
  }
  return out;
};

const messages = (lines: readonly Record<string, unknown>[]) => lines.map((l) => [l['msg'], l['why']]);
const errorOf = (line: Record<string, unknown> | undefined) => line?.['err'] as { code?: string; message?: string } | undefined;

describe('FeatureTail', () => {
  it('rebuilds the windows an uninterrupted reader holds, from the committed snapshot only', () => {
    const { file, reader, through } = committed(9);
    const { outbox, tail, lines } = restarted(file, { resumedAfter: after(9000) });
    expect(tail.resumePoint()).toEqual(after(through));
    const restored = tail.restore(spec, model)!;
    expect(restored).toMatchObject({ readings: { time: through, count: 1 }, events: undefined, alerts: NO_ALERT });
    // the windows need the last 4 readings: the snapshot holds them and no more
    expect(restored.values!.length).toBe(4 * 2);
    const again = new AssetReader(spec);
    again.restore(restored.values!);
    // the first reading after the resume already makes a row, the same bits as without the restart
    expect(rows(again, 10, 16)).toEqual(rows(reader, 10, 16));
    expect(rows(again, 10, 10)[0]!.length).toBe(3);
    expect(lines.find((l) => l['msg'] === 'feature windows restored')).toMatchObject({ readings: 4, through: new Date(through).toISOString() });
    outbox.stop();
  });

  it('a tail shorter than the windows (a warm-up) comes back as it was, still warming up', () => {
    const { file, reader } = committed(1);
    const { outbox, tail } = restarted(file, { resumedAfter: after(1000) });
    const again = new AssetReader(spec);
    again.restore(tail.restore(spec, model)!.values!);
    expect(rows(again, 2, 8)).toEqual(rows(reader, 2, 8));
    expect(rows(new AssetReader(spec), 2, 2)).toEqual([[]]);
    outbox.stop();
  });

  it('ignores (and logs) a snapshot of another spec, another resume point, another source, and no snapshot at all', () => {
    const longer = tinySpec({ signals: spec.signals, features: [...spec.features.slice(0, 2), { name: 'kind', signal: 'kind', agg: 'last', window: 6 }] });
    expect(fingerprint(longer)).not.toBe(fingerprint(spec));
    const { file } = committed(9);

    const updated = restarted(file, { resumedAfter: after(9000) });
    // the source resumed at the snapshot: where it stands holds, the windows of the old spec do not
    expect(updated.tail.restore(longer, model)).toEqual({ ...after(9000), alerts: undefined, values: undefined });
    expect(messages(updated.lines)).toEqual([['feature-window snapshot ignored; windows start empty', 'taken for another feature spec']]);
    updated.outbox.stop();

    const elsewhere = restarted(file, { resumedAfter: after(5000) });
    expect(elsewhere.tail.restore(spec, model)).toBeUndefined();
    const notResumed = restarted(file);
    expect(notResumed.tail.restore(spec, model)).toBeUndefined();
    expect([...messages(elsewhere.lines), ...messages(notResumed.lines)]).toEqual([
      ['feature-window snapshot ignored; windows start empty', 'the source resumed before the last row it counted'],
      ['feature-window snapshot ignored; windows start empty', 'the source did not resume'],
    ]);
    elsewhere.outbox.stop();
    notResumed.outbox.stop();

    const other = restarted(file, { resumedAfter: after(9000), source: 'other.csv' });
    expect(other.tail.resumePoint()).toBeUndefined();
    expect(other.tail.restore(spec, model)).toBeUndefined();
    expect(messages(other.lines)).toEqual([['feature-window snapshot is for another asset or source; ignored', undefined]]);
    other.outbox.stop();

    const fresh = restarted(join(dir, 'fresh', 'outbox.sqlite'), { resumedAfter: after(9000) });
    expect(fresh.tail.resumePoint()).toBeUndefined();
    expect(fresh.tail.restore(spec, model)).toBeUndefined();
    expect(fresh.lines).toEqual([]);
    fresh.outbox.stop();
  });

  it('keeps where the replay stands and the alert state: restored for the same model, the alert state not for another', () => {
    const events = { time: 9000, count: 2 };
    const alerts = { over: true, lastRaisedAt: 7000 };
    const { file } = committed(9, spec, { readings: { time: 9000, count: 3 }, events, alerts });
    const resumed: ResumePoint = { readings: { time: 9000, count: 3 }, events };

    const same = restarted(file, { resumedAfter: resumed });
    expect(same.tail.resumePoint()).toEqual(resumed);
    expect(same.tail.restore(spec, model)).toMatchObject({ ...resumed, alerts });
    expect(same.lines.find((l) => l['msg'] === 'feature windows restored')).toMatchObject({ alertsRestored: true });
    same.outbox.stop();

    // a model of the same feature spec (another threshold, say): the windows yes, its alert state no
    const other = restarted(file, { resumedAfter: resumed });
    const restored = other.tail.restore(spec, { name: 'tiny', version: '1.0.1' });
    expect(restored).toMatchObject({ ...resumed, alerts: undefined });
    expect(restored!.values!.length).toBe(4 * 2);
    other.outbox.stop();

    // a source that resumed after another count of rows at that time holds other readings
    const fewer = restarted(file, { resumedAfter: { readings: { time: 9000, count: 2 }, events } });
    expect(fewer.tail.restore(spec, model)).toBeUndefined();
    expect(messages(fewer.lines)).toEqual([['feature-window snapshot ignored; windows start empty', 'the source resumed before the last row it counted']]);
    fewer.outbox.stop();
  });

  it('tells an outbox that cannot be read apart from an unreadable snapshot', () => {
    const { file } = committed(9);
    const { outbox, tail, lines } = restarted(file, { resumedAfter: after(9000) });
    outbox.stop();
    expect(tail.resumePoint()).toBeUndefined();
    expect(lines.map((l) => [l['msg'], l['level']])).toEqual([['feature-window snapshot not read: outbox failed; windows start empty', 50]]);
    expect(errorOf(lines[0])).toMatchObject({ code: 'OUTBOX_FAILED' });
  });

  it('ignores (and logs, once) a corrupt snapshot: truncated, bad header, values the reading checks refuse', () => {
    const { file } = committed(9);
    const good = (() => {
      const db = new Database(file, { readonly: true });
      try {
        return (db.prepare("SELECT value FROM meta WHERE key = 'state:feature-tail:m-1'").get() as { value: Buffer }).value;
      } finally {
        db.close();
      }
    })();
    const headerBytes = good.readUInt32LE(0);
    const padded = (bytes: number): number => Math.ceil((4 + bytes) / 8) * 8;
    // the state (6 values: reading time and count, event time and count, over, last alert), then the values
    const data = padded(headerBytes);
    const value = (i: number): number => data + 8 * i;
    const withHeader = (header: Record<string, unknown>): Buffer => {
      const json = Buffer.from(JSON.stringify(header));
      const out = Buffer.alloc(padded(json.length), ' ');
      out.writeUInt32LE(json.length, 0);
      json.copy(out, 4);
      return Buffer.concat([out, good.subarray(data)]);
    };
    const patched = (at: number, value: number): Buffer => {
      const b = Buffer.from(good);
      b.writeDoubleLE(value, at);
      return b;
    };
    const header = JSON.parse(good.toString('utf8', 4, 4 + headerBytes)) as Record<string, unknown>;
    // value 2: reading 1, signal a
    const outOfRange = patched(value(6 + 2), 1e9);
    const cases: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /too short/],
      ['truncated', good.subarray(0, good.length - 3), /whole readings/],
      ['no state', good.subarray(0, data + 4), /whole readings/],
      ['a time that is none', patched(value(0), Number.NaN), /no time/],
      ['no count of readings at the time', patched(value(1), 0), /no count/],
      ['an event time without a count', patched(value(2), 5000), /last event 5000 x 0/],
      ['an alert state that is no flag', patched(value(4), 0.5), /neither 0 nor 1/],
      ['a last alert that is no time', patched(value(5), Number.NaN), /last alert NaN/],
      ['header length past the end', (() => { const b = Buffer.from(good); b.writeUInt32LE(1 << 20, 0); return b; })(), /does not fit/],
      ['header not JSON', (() => { const b = Buffer.from(good); b.write('}', 4); return b; })(), /not JSON/],
      ['header of another version', withHeader({ ...header, schemaVersion: 1 }), /schemaVersion/],
      ['header missing a field', withHeader({ ...header, signals: undefined }), /signals/],
      ['header of another signal count', withHeader({ ...header, signals: 3 }), /whole readings of 3 signals/],
    ];
    for (const [name, value, problem] of cases) {
      const db = new Database(file);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'state:feature-tail:m-1'").run(value);
      db.close();
      const { outbox, tail, lines } = restarted(file, { resumedAfter: after(9000) });
      expect(tail.resumePoint(), name).toBeUndefined();
      expect(tail.restore(spec, model), name).toBeUndefined();
      expect(lines.map((l) => l['msg']), name).toEqual(['feature-window snapshot unreadable; windows start empty']);
      expect(errorOf(lines[0]), name).toMatchObject({ code: 'STATE_INVALID', message: expect.stringMatching(problem) });
      outbox.stop();
    }
    // readable, but a value no reading check lets into a window (a out of [-100, 100]): not restored
    const db = new Database(file);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'state:feature-tail:m-1'").run(outOfRange);
    db.close();
    const { outbox, tail, lines } = restarted(file, { resumedAfter: after(9000) });
    expect(tail.resumePoint()).toEqual(after(9000));
    expect(tail.restore(spec, model)).toEqual({ ...after(9000), alerts: undefined, values: undefined });
    expect(messages(lines)).toEqual([['feature-window snapshot ignored; windows start empty', 'a value a reading check refuses (a#1)']]);
    outbox.stop();
  });
});

/**
 * The drift snapshot on a real SQLite outbox file, driven as the pipeline drives the monitor (stage,
 * commit with the state, scored; takeDue, commit with driftSnapshot when driftChanged): a monitor restarted from it after a
 * kill publishes the windows an uninterrupted one does; a snapshot it cannot trust (of another model
 * version, other reference bins, another window length, a replay from before its last row, corrupt) is
 * logged and ignored, never thrown; a failed commit undoes what its stage counted.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelCard } from '@pdm/protocol';
import type { Mark } from '../features/window-tail.js';
import type { ScoringSet } from '../inference/slots.js';
import type { RecordDraft, StateWrite } from '../outbox/outbox.js';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { FakeClock } from '../testing/fake-clock.js';
import { captureLogger, silentLogger } from '../testing/logger.js';
import { qualityConfigSchema } from './config.js';
import { DriftState } from './drift-state.js';
import { QualityMonitor } from './monitor.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-drift-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = new FakeClock();
let files = 0;

const HOUR = 3_600_000;
const T0 = Date.parse('2015-01-01T00:00:00Z');
const at = (h: number): number => T0 + h * HOUR;
const iso = (ms: number): string => new Date(ms).toISOString();
const EDGES = [0, 1, 2, 3, 4];
/** The reading mark after hour h's `count` readings. */
const mark = (h: number, count = 1): Mark => ({ time: at(h), count });

/** A model without a horizon (drift only), binning its one feature on `edges`. */
function card(version: string, edges = EDGES): ModelCard {
  return {
    name: 'm', version,
    featureSpec: { task: 'remaining-useful-life', threshold: 10, alertWhen: 'below', features: [{ name: 'f1', signal: 's', agg: 'last', window: 1 }] },
    reference: { bins: { f1: { edges, shares: [0.25, 0.25, 0.25, 0.25] }, score: { edges: [0, 50, 100], shares: [0.5, 0.5] } } },
  } as unknown as ModelCard;
}

const setOf = (c: ModelCard): ScoringSet =>
  ({ generation: 0, active: { model: { ref: { name: c.name, version: c.version }, card: c } } }) as unknown as ScoringSet;

function batch(c: ModelCard, h: number, score: number, count = 1): RecordDraft {
  return {
    kind: 'predictions',
    record: {
      time: iso(at(h)), assetId: 'a1', model: { name: c.name, version: c.version }, role: 'active', threshold: 10,
      predictions: Array.from({ length: count }, () => ({ t: iso(at(h)), score, alert: false })),
    },
  } as RecordDraft;
}

/** The feature value and score of hour h: spread over the bins so that counts differ per window. */
const value = (h: number): number => (h * 7) % 5;
const score = (h: number): number => (h * 13) % 100;

interface Device {
  readonly outbox: SqliteOutbox;
  readonly monitor: QualityMonitor;
  readonly lines: Record<string, unknown>[];
  /** The drift records committed, as the controller would get them. */
  readonly drift: unknown[];
  /** The reading mark of the last hour fed: what the pipeline's commits are taken at. */
  mark: Mark | undefined;
}

function device(file: string, opts: { resumedAfter?: Mark; windowHours?: number; ended?: boolean } = {}): Device {
  const outbox = new SqliteOutbox({ file, deviceId: 'dev-1', synchronous: 'NORMAL', clock, log: silentLogger });
  outbox.start();
  const { log, lines } = captureLogger();
  const config = qualityConfigSchema.parse({ driftWindowSeconds: (opts.windowHours ?? 24) * 3600 });
  const drift = new DriftState({ outbox, assetId: 'a1', windowMs: config.driftWindowSeconds * 1000, resumedAfter: () => opts.resumedAfter, log });
  const monitor = new QualityMonitor({ config, assetId: 'a1', drift, inputEnded: () => opts.ended ?? true, log });
  monitor.start();
  return { outbox, monitor, lines, drift: [], mark: opts.resumedAfter };
}

function commit(d: Device, drafts: readonly RecordDraft[], state: StateWrite | undefined): void {
  d.outbox.commit(drafts, state);
  if (state !== undefined) d.monitor.driftStored();
  for (const draft of drafts) if (draft.kind === 'drift') d.drift.push(draft.record);
}

/** The drift state when the monitor's counts changed, as the pipeline asks for it with records. */
const changedDrift = (d: Device): StateWrite | undefined => (d.monitor.driftChanged() ? d.monitor.driftSnapshot(d.mark) : undefined);

/** Hour h through the monitor in the pipeline's order: a batch of one prediction per value, all at time h, all scored `s`. */
function feedHour(d: Device, c: ModelCard, h: number, values: readonly number[], s = score(h)): void {
  const set = setOf(c);
  // the pipeline tells the monitor the models it adopts before they score (a switch, the start)
  d.monitor.running(set);
  d.monitor.advance(at(h));
  commit(d, d.monitor.takeDue(), changedDrift(d));
  d.mark = mark(h, values.length);
  const rows = values.map((v) => ({ time: at(h), row: Float32Array.of(v) }));
  const drafts = [batch(c, h, s, values.length)];
  d.monitor.stage(set, rows, drafts);
  commit(d, drafts, changedDrift(d));
  d.monitor.scored(set, rows, drafts);
  commit(d, d.monitor.takeDue(), changedDrift(d));
}

/** Hours `from..to` through the monitor, one scored row each. */
function feed(d: Device, c: ModelCard, from: number, to: number): void {
  for (let h = from; h <= to; h++) feedHour(d, c, h, [value(h)]);
}

function end(d: Device): unknown[] {
  commit(d, d.monitor.closeAll(), changedDrift(d));
  d.outbox.stop();
  return d.drift;
}

const msg = (d: Device, text: string): Record<string, unknown> | undefined => d.lines.find((l) => l['msg'] === text);
const v1 = card('1.0.0');

/** Hours 0..k through a device on a fresh file, then dropped without a stop (a kill): its file and drift records. */
function killedAfter(k: number, c = v1): { file: string; before: unknown[] } {
  const file = join(dir, `d-${files++}`, 'outbox.sqlite');
  const d = device(file);
  feed(d, c, 0, k);
  d.outbox.stop();
  return { file, before: d.drift };
}

describe('drift snapshot', () => {
  const uninterrupted = (): unknown[] => {
    const d = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    feed(d, v1, 0, 99);
    return end(d);
  };

  it('a monitor restarted after a kill mid-window publishes the windows an uninterrupted one does, none twice', () => {
    const expected = uninterrupted();
    expect(expected).toHaveLength(5);
    const { file, before } = killedAfter(57);
    const d = device(file, { resumedAfter: mark(57) });
    feed(d, v1, 58, 99);
    expect(msg(d, 'drift windows restored')).toMatchObject({ model: { name: 'm', version: '1.0.0' }, role: 'active', windows: 1, n: 10 });
    expect([...before, ...end(d)]).toEqual(expected);
  });

  it('ignores the windows of another model version, and of the same version counted on other reference bins', () => {
    const other = killedAfter(57);
    const d = device(other.file, { resumedAfter: mark(57) });
    feed(d, card('1.1.0'), 58, 60);
    expect(msg(d, 'drift windows of a model that does not run now are ignored')).toMatchObject({ model: { name: 'm', version: '1.0.0' }, role: 'active', rows: 10 });
    expect(msg(d, 'drift windows restored')).toBeUndefined();
    // its own window holds only its own rows
    expect(end(d)).toMatchObject([{ model: { version: '1.1.0' }, n: 3 }]);

    const rebinned = killedAfter(57);
    const e = device(rebinned.file, { resumedAfter: mark(57) });
    feed(e, card('1.0.0', [0, 1.5, 2, 3, 4]), 58, 60);
    expect(msg(e, 'drift snapshot taken on other reference bins; its windows are ignored')).toMatchObject({ model: { version: '1.0.0' }, role: 'active' });
    expect(end(e)).toMatchObject([{ n: 3 }]);
  });

  it('ignores a snapshot of another window length, or when the replay resumed before its last row or from the first row', () => {
    const cases: [{ resumedAfter?: Mark; windowHours?: number }, string][] = [
      [{ resumedAfter: mark(57), windowHours: 48 }, 'taken with another drift window length'],
      [{ resumedAfter: mark(50) }, 'the source resumed before the last row it counted'],
      // rows committed after the snapshot (a full disk left it behind) would be missing from the window
      [{ resumedAfter: mark(58) }, 'the source resumed after rows it did not count'],
      [{}, 'the source did not resume'],
    ];
    for (const [opts, why] of cases) {
      const { file } = killedAfter(57);
      const d = device(file, opts);
      feed(d, v1, 58, 60);
      expect(msg(d, 'drift snapshot ignored; drift windows start empty')).toMatchObject({ why });
      expect(end(d)).toMatchObject([{ n: 3 }]);
    }
  });

  it('a corrupt snapshot is logged and ignored, and the monitor goes on', () => {
    const valid = killedAfter(57);
    const outbox = new SqliteOutbox({ file: valid.file, deviceId: 'dev-1', synchronous: 'NORMAL', clock, log: silentLogger });
    outbox.start();
    const stored = outbox.state('drift:a1')!;
    outbox.stop();
    const headerBytes = stored.readUInt32LE(0);
    // after the header: the reading mark (time, count), then the window's rows (10) and its counts
    const floatsAt = Math.ceil((4 + headerBytes) / 8) * 8;
    expect([0, 8, 16].map((o) => stored.readDoubleLE(floatsAt + o))).toEqual([at(57), 1, 10]);
    const overCount = Buffer.from(stored);
    overCount.writeDoubleLE(11, floatsAt + 24); // a bin of more rows than its window of 10
    const noRows = Buffer.from(stored);
    noRows.writeDoubleLE(0, floatsAt + 16);
    const noCount = Buffer.from(stored);
    noCount.writeDoubleLE(0, floatsAt + 8);
    const badJson = Buffer.from(stored);
    badJson.write('{', 4);
    badJson.write('!', 5);
    const corrupt: [Buffer, RegExp][] = [
      [Buffer.from([1, 2]), /too short/],
      [badJson, /not JSON/],
      [stored.subarray(0, stored.length - 8), /bytes after the header/],
      [overCount, /is no count/],
      [noRows, /0 rows in a window/],
      [noCount, /reading mark .* is no time and count/],
      [Buffer.from(stored.toString('latin1').replace('"schemaVersion":2', '"schemaVersion":9'), 'latin1'), /schemaVersion/],
    ];
    for (const [bytes, problem] of corrupt) {
      const { file } = killedAfter(57);
      const d = device(file, { resumedAfter: mark(57) });
      d.outbox.commit([], { key: 'drift:a1', value: bytes });
      feed(d, v1, 58, 60);
      expect((msg(d, 'drift snapshot unreadable; drift windows start empty')?.['err'] as { message: string } | undefined)?.message).toMatch(problem);
      expect(end(d)).toMatchObject([{ n: 3 }]);
    }
  });

  it('a stop keeps the window of the model that runs pending and publishes the one of the model it switched from', () => {
    const file = join(dir, `d-${files++}`, 'outbox.sqlite');
    const d = device(file, { ended: false });
    const v2 = card('2.0.0');
    feed(d, v1, 0, 30);
    feed(d, v2, 31, 40);
    // v1 can never get another row: its window [24, 48) is published with its 7 rows; v2's waits for the next start
    expect(end(d)).toMatchObject([{ model: { version: '1.0.0' }, n: 24 }, { model: { version: '1.0.0' }, windowStart: iso(at(24)), n: 7 }]);
    expect(msg(d, 'drift windows kept pending for the next start')).toMatchObject({ windows: 1 });
    const e = device(file, { resumedAfter: mark(40) });
    feed(e, v2, 41, 47);
    expect(msg(e, 'drift windows restored')).toMatchObject({ model: { version: '2.0.0' }, n: 10 });
    expect(msg(e, 'drift windows of a model that does not run now are ignored')).toBeUndefined();
    expect(end(e)).toMatchObject([{ model: { version: '2.0.0' }, windowStart: iso(at(24)), n: 17 }]);
  });

  it('a commit that fails undoes the drift its stage counted, as if the rows never came', () => {
    const expected = uninterrupted();
    const d = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    feed(d, v1, 0, 56);
    // hour 57's batch fails to commit (no drafts reach `scored`): its row counts nowhere
    const set = setOf(v1);
    const rows = [{ time: at(57), row: Float32Array.of(4) }];
    const drafts = [batch(v1, 57, 99)];
    d.monitor.advance(at(57));
    d.monitor.stage(set, rows, drafts);
    expect(d.monitor.driftChanged()).toBe(true);
    expect(d.monitor.driftSnapshot(mark(57))).toBeDefined();
    d.monitor.scored(set, rows, []);
    feed(d, v1, 57, 99);
    expect(end(d)).toEqual(expected);
  });

  it('a drift snapshot left out of its commit (a full disk) keeps the counts changed until one is stored', () => {
    const d = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    feed(d, v1, 0, 5);
    const set = setOf(v1);
    const rows = [{ time: at(6), row: Float32Array.of(4) }];
    const drafts = [batch(v1, 6, 50)];
    d.monitor.advance(at(6));
    d.monitor.stage(set, rows, drafts);
    expect(d.monitor.driftSnapshot(mark(6))).toBeDefined();
    // not stored: the next commit must carry the counts again
    expect(d.monitor.driftChanged()).toBe(true);
    d.monitor.driftStored();
    expect(d.monitor.driftChanged()).toBe(false);
    d.monitor.scored(set, rows, drafts);
    end(d);
  });

  it('rows of equal times each count with their own features, as the same rows at distinct times do', () => {
    const same = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    feedHour(same, v1, 5, [0.5, 3.5], 65);
    const apart = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    feedHour(apart, v1, 5, [0.5], 65);
    feedHour(apart, v1, 6, [3.5], 65);
    const [a] = end(same);
    const [b] = end(apart);
    expect(a).toMatchObject({ n: 2 });
    expect(a).toEqual(b);
  });

  it('a row whose score was not finite gives its features to no prediction, also among rows of its time', () => {
    // hour 5: three rows, the first scored NaN (no prediction), the others 65: the predictions are theirs
    const skipped = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    const set = setOf(v1);
    skipped.monitor.running(set);
    skipped.monitor.advance(at(5));
    const rows = [0.5, 3.5, 3.6].map((v, i) => ({ time: at(5), row: Float32Array.of(v), scores: { active: i === 0 ? Number.NaN : 65, shadow: undefined } }));
    const drafts = [batch(v1, 5, 65, 2)];
    skipped.monitor.stage(set, rows, drafts);
    commit(skipped, drafts, changedDrift(skipped));
    skipped.monitor.scored(set, rows, drafts);
    const alone = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    feedHour(alone, v1, 5, [3.5, 3.6], 65);
    const [a] = end(skipped);
    const [b] = end(alone);
    expect(a).toMatchObject({ n: 2 });
    expect(a).toEqual(b);
  });

  it('a resume point at a time of several rows takes the snapshot back only at the same count of readings', () => {
    const file = join(dir, `d-${files++}`, 'outbox.sqlite');
    const d = device(file);
    feed(d, v1, 0, 56);
    feedHour(d, v1, 57, [1, 2, 3]);
    d.outbox.stop();
    // the position file's fallback may say one reading of 57 was taken: two rows would count twice
    const early = join(dir, `d-${files++}`);
    cpSync(dirname(file), early, { recursive: true });
    const e = device(join(early, 'outbox.sqlite'), { resumedAfter: mark(57, 1) });
    feed(e, v1, 58, 60);
    expect(msg(e, 'drift snapshot ignored; drift windows start empty')).toMatchObject({ why: 'the source resumed before the last row it counted' });
    end(e);
    const f = device(file, { resumedAfter: mark(57, 3) });
    feed(f, v1, 58, 60);
    expect(msg(f, 'drift windows restored')).toMatchObject({ n: 12 });
    expect(end(f)).toMatchObject([{ n: 15 }]);
  });

  it('a stop right after a switch to a model that has not scored yet publishes the old model window, keeping nothing', () => {
    const d = device(join(dir, `d-${files++}`, 'outbox.sqlite'), { ended: false });
    feed(d, v1, 0, 30);
    d.monitor.running(setOf(card('2.0.0')));
    expect(end(d)).toMatchObject([{ model: { version: '1.0.0' }, n: 24 }, { model: { version: '1.0.0' }, windowStart: iso(at(24)), n: 7 }]);
    expect(msg(d, 'drift windows kept pending for the next start')).toBeUndefined();
  });

  it('the stored windows of a model that has not scored since the start go on in the snapshots taken before it does', () => {
    const expected = uninterrupted();
    const { file, before } = killedAfter(57);
    const d = device(file, { resumedAfter: mark(57) });
    // a commit of the feature-window tail before the first batch (an event), then a kill
    d.outbox.commit([], d.monitor.driftSnapshot(mark(57)));
    d.outbox.stop();
    const e = device(file, { resumedAfter: mark(57) });
    feed(e, v1, 58, 99);
    expect(msg(e, 'drift windows restored')).toMatchObject({ n: 10 });
    expect([...before, ...end(e)]).toEqual(expected);
  });

  it('the end of input right after a restart into no rows publishes the stored windows of the model that runs', () => {
    const d = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    feed(d, v1, 0, 57);
    const expected = end(d);
    const { file, before } = killedAfter(57);
    const e = device(file, { resumedAfter: mark(57) });
    // the pipeline's start: the model runs, no row comes before the input ends
    e.monitor.running(setOf(v1));
    expect([...before, ...end(e)]).toEqual(expected);
    expect(msg(e, 'drift windows restored')).toMatchObject({ n: 10 });
    expect(msg(e, 'drift windows of a model that does not run now are ignored')).toBeUndefined();
  });

  it('a switch before the restored model scores publishes its stored windows as an uninterrupted run does', () => {
    const v2 = card('2.0.0');
    const d = device(join(dir, `d-${files++}`, 'outbox.sqlite'));
    feed(d, v1, 0, 57);
    feed(d, v2, 58, 99);
    const expected = end(d);
    expect(expected).toContainEqual(expect.objectContaining({ model: { name: 'm', version: '1.0.0' }, windowStart: iso(at(48)), n: 10 }));
    const { file, before } = killedAfter(57);
    const e = device(file, { resumedAfter: mark(57) });
    // started with v1, then a deploy queued while the agent was down switches to v2 before v1 scores
    e.monitor.running(setOf(v1));
    feed(e, v2, 58, 99);
    expect([...before, ...end(e)]).toEqual(expected);
    expect(msg(e, 'drift windows of a model that does not run now are ignored')).toBeUndefined();
  });
});

/**
 * The metric-window snapshot on a real SQLite outbox file: taken back only where the source resumed at its
 * reading mark; none stored (the first start after the update that adds it) starts empty without a word;
 * anything unreadable is logged with what is wrong, and the windows start empty.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Mark } from '../features/window-tail.js';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { FakeClock } from '../testing/fake-clock.js';
import { captureLogger } from '../testing/logger.js';
import { OpenWindows, type OpenWindowsState } from './open-windows.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-open-windows-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const HOUR = 3_600_000;
const mark: Mark = { time: 10 * HOUR, count: 2 };
const state: OpenWindowsState = {
  metrics: {
    windows: [
      { start: 0, readings: 6, rejected: { 'out-of-range': 1 }, inferences: 5, inferenceErrors: 1, alerts: 0 },
      { start: 6 * HOUR, readings: 4, rejected: {}, inferences: 4, inferenceErrors: 0, alerts: 1 },
    ],
  },
  shadow: {
    active: { name: 'm', version: '1.0.0' },
    candidate: { name: 'm', version: '1.1.0' },
    deploymentId: 'dep-1',
    spec: { threshold: 0.5, alertWhen: 'above' },
    alerts: { over: true, lastRaisedAt: Number.NEGATIVE_INFINITY },
    windows: [{
      start: 6 * HOUR, n: 4, agree: 3, absDiff: 0.1 + 0.2, activeAlerts: 1, candidateAlerts: 0, candidateErrors: 0,
      activeCounts: [0, 0, 0, 0, 0, 0, 0, 0, 1, 3], candidateCounts: [0, 0, 0, 0, 0, 0, 0, 1, 3, 0],
    }],
  },
};

/** A keeper on a fresh outbox file holding `value` (a snapshot of `state`, by default) under its key. */
function stored(resumedAfter: Mark | undefined, value?: Buffer, windowMs = 6 * HOUR) {
  const { log, lines } = captureLogger('info');
  const outbox = new SqliteOutbox({ file: join(dir, `o-${files++}.sqlite`), deviceId: 'dev-1', synchronous: 'NORMAL', clock: new FakeClock(), log });
  outbox.start();
  const deps = { outbox, assetId: 'a1', windowMs: 6 * HOUR, source: 'file.csv', resumedAfter: () => resumedAfter, log };
  outbox.commit([], value === undefined ? new OpenWindows(deps).snapshot(mark, state) : { key: 'open-windows:a1', value });
  return { keeper: new OpenWindows({ ...deps, windowMs }), lines, outbox };
}

const warning = (lines: readonly Record<string, unknown>[]) => lines.find((l) => l['level'] === 40);

describe('OpenWindows', () => {
  it('gives back exactly what it kept, once, where the source resumed at its mark', () => {
    const { keeper, lines } = stored({ ...mark });
    expect(keeper.restore()).toEqual(state);
    expect(keeper.restore()).toBeUndefined();
    expect(lines.find((l) => l['msg'] === 'metric windows restored')).toMatchObject({ metricWindows: 2, comparisonWindows: 1 });
  });

  it('ignores its windows where the source resumed elsewhere or from the first row', () => {
    // a replay from the first row is asked for (source.resume false): info, as the other keepers log it
    const cases = [[{ time: mark.time, count: 1 }, 'the source resumed before the last row it counted', 40], [undefined, 'the source did not resume', 30]] as const;
    for (const [after, why, level] of cases) {
      const { keeper, lines } = stored(after);
      expect(keeper.restore()).toBeUndefined();
      expect(lines.find((l) => l['msg'] === 'metric-window snapshot ignored; metric and comparison windows start empty')).toMatchObject({ level, why });
    }
  });

  it('refuses at write a snapshot a restart would refuse: nothing is written every commit that no restart can read', () => {
    const { keeper } = stored(mark);
    const broken: OpenWindowsState = { ...state, shadow: { ...state.shadow!, windows: [{ ...state.shadow!.windows[0]!, absDiff: Number.NaN }] } };
    expect(() => keeper.snapshot(mark, broken)).toThrow(/metric-window snapshot not taken: .*absDiff/);
    expect(() => keeper.snapshot({ time: 5 * HOUR, count: 1 }, state)).toThrow(/is after the reading mark's time/);
  });

  it('ignores windows of another length (metricsWindowSeconds changed between runs), at info level', () => {
    const { keeper, lines } = stored({ ...mark }, undefined, HOUR);
    expect(keeper.restore()).toBeUndefined();
    expect(lines.find((l) => l['msg'] === 'metric-window snapshot ignored; metric and comparison windows start empty'))
      .toMatchObject({ level: 30, why: 'taken with another window length' });
    expect(lines.find((l) => l['msg'] === 'metric windows restored')).toBeUndefined();
  });

  it('starts empty without a word where none is stored (the first start after the update)', () => {
    const { log, lines } = captureLogger('info');
    const outbox = new SqliteOutbox({ file: join(dir, `o-${files++}.sqlite`), deviceId: 'dev-1', synchronous: 'NORMAL', clock: new FakeClock(), log });
    outbox.start();
    expect(new OpenWindows({ outbox, assetId: 'a1', windowMs: 6 * HOUR, source: 'file.csv', resumedAfter: () => mark, log }).restore()).toBeUndefined();
    expect(lines.filter((l) => String(l['msg']).includes('snapshot'))).toEqual([]);
  });

  it('logs what is wrong with an unreadable snapshot and starts empty', () => {
    const good = JSON.parse(stored(mark).keeper.snapshot(mark, state).value.toString('utf8')) as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      ['{', /not JSON/],
      [{ ...good, schemaVersion: 1 }, /schemaVersion/],
      [{ ...good, windowMs: undefined }, /windowMs/],
      [{ ...good, metrics: [{ ...state.metrics.windows[0], start: HOUR }] }, /metrics: start 3600000 is not aligned to the window length 21600000/],
      [{ ...good, shadow: { ...(good['shadow'] as object), windows: [{ ...state.shadow!.windows[0], start: 7 * HOUR }] } }, /shadow\.windows: start 25200000 is not aligned/],
      [{ ...good, metrics: [...state.metrics.windows].reverse() }, /metrics: start 0 does not come after 21600000/],
      [{ ...good, readings: { time: 5 * HOUR, count: 1 } }, /metrics: start 21600000 of a window with rows is after the reading mark's time 18000000/],
      [{ ...good, shadow: { ...(good['shadow'] as object), windows: [{ ...state.shadow!.windows[0], agree: 5 }] } }, /agree 5 is more than n 4/],
      [{ ...good, shadow: { ...(good['shadow'] as object), windows: [{ ...state.shadow!.windows[0], n: 5, agree: 3 }] } }, /score bins do not sum to n 5/],
      [{ ...good, readings: { time: mark.time, count: 0 } }, /readings\.count/],
      [{ ...good, metrics: [{ ...state.metrics.windows[0], rejected: { bogus: 1 } }] }, /rejected/],
      [{ ...good, shadow: { ...(good['shadow'] as object), windows: [{ ...state.shadow!.windows[0], activeCounts: [1, 2] }] } }, /activeCounts/],
    ];
    for (const [value, problem] of cases) {
      const { keeper, lines } = stored(mark, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8'));
      expect(keeper.restore()).toBeUndefined();
      const line = warning(lines);
      expect(line).toMatchObject({ msg: 'metric-window snapshot unreadable; windows start empty' });
      expect((line!['err'] as { message: string }).message).toMatch(problem);
    }
  });
});

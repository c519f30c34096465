import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelCard } from '@pdm/protocol';
import type { ScoringSet } from '../inference/slots.js';
import type { RecordDraft } from '../outbox/outbox.js';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { eventDraft, predictionDraft } from '../outbox/suite-drafts.js';
import { FakeClock } from '../testing/fake-clock.js';
import { captureLogger, silentLogger } from '../testing/logger.js';
import { qualityConfigSchema } from './config.js';
import { QualityJournal } from './journal.js';
import { QualityMonitor } from './monitor.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2015-01-01T00:00:00Z');
const at = (h: number): number => T0 + h * HOUR;
const iso = (ms: number): string => new Date(ms).toISOString();
const dir = mkdtempSync(join(tmpdir(), 'pdm-quality-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const card = { name: 'm', version: '1.0.0', featureSpec: { task: 'failure-within-horizon', horizonHours: 24, threshold: 0.5, alertWhen: 'above', features: [] } };
const set = { generation: 0, active: { model: { ref: { name: 'm', version: '1.0.0' }, card: card as unknown as ModelCard } } } as unknown as ScoringSet;
const config = qualityConfigSchema.parse({ windowSeconds: 86_400 });
/** Failures at these hours; the model passes its threshold in the 6 hours before each, and at a few false alarms. */
const FAILURES = [30, 77, 130];
const passes = (h: number): boolean => FAILURES.some((f) => h >= f - 6 && h < f) || h % 41 === 0;

const predictions = (hours: number[]): RecordDraft => ({
  kind: 'predictions',
  record: {
    time: iso(at(hours[hours.length - 1]!)), assetId: 'a1', model: { name: 'm', version: '1.0.0' }, role: 'active', horizonHours: 24, threshold: 0.5,
    predictions: hours.map((h) => ({ t: iso(at(h)), score: passes(h) ? 0.9 : 0.1, alert: passes(h) })),
  },
});
const failure = (h: number): RecordDraft => ({
  kind: 'events', record: { time: iso(at(h)), assetId: 'a1', type: 'failure', at: iso(at(h)), source: 'replay', component: 'comp1' },
});

interface LifeOptions {
  readonly recentFailures?: number;
  /** Quality settings over the default `config` (a cap, a grace). */
  readonly quality?: Record<string, number>;
}

/** The parts of one agent life: a real outbox file, its journal and a monitor (none without `durable`). */
function life(file: string, durable: boolean, options: LifeOptions = {}) {
  const outbox = new SqliteOutbox({ file, deviceId: 'dev', synchronous: 'NORMAL', clock: new FakeClock(), log: silentLogger });
  outbox.start();
  const { recentFailures } = options;
  const journal = new QualityJournal({ file, enabled: durable, log: silentLogger, ...(recentFailures === undefined ? {} : { recentFailures }) });
  journal.start();
  let ended = false;
  const { log, lines } = captureLogger('info');
  const monitor = new QualityMonitor({
    config: options.quality === undefined ? config : qualityConfigSchema.parse({ windowSeconds: 86_400, ...options.quality }),
    assetId: 'a1', log, inputEnded: () => ended, ...(durable ? { store: journal } : {}),
  });
  monitor.start();
  monitor.running(set);
  const published: RecordDraft[] = [];
  const commit = (drafts: RecordDraft[]): void => {
    if (drafts.length > 0) outbox.commit(drafts);
    published.push(...drafts.filter((d) => d.kind === 'quality'));
  };
  return {
    outbox, journal, monitor, published, lines,
    /** Predictions the cap dropped, as the monitor logged them. */
    dropped: (): number => lines.filter((l) => l.msg === 'pending predictions over the cap dropped').reduce((sum, l) => sum + (l.dropped as number), 0),
    /** Pending predictions a start rebuilt from the journal. */
    restored: (): unknown => lines.find((l) => l.msg === 'quality state restored')?.pending,
    /** Hours [from, to) as the pipeline gives them: event first, then event time, due windows, the batch. */
    run(from: number, to: number, batchHours = 4): void {
      for (let h = from; h < to; h += batchHours) {
        const hours = Array.from({ length: Math.min(batchHours, to - h) }, (_, i) => h + i);
        for (const f of FAILURES.filter((x) => hours.includes(x))) {
          commit([failure(f)]);
          monitor.event({ time: at(f), type: 'failure', source: 'replay', component: 'comp1' });
        }
        monitor.advance(at(hours[0]!));
        commit(monitor.takeDue());
        const batch = predictions(hours);
        outbox.commit([batch]);
        monitor.scored(set, hours.map((x) => ({ time: at(x), row: Float32Array.of(0) })), [batch]);
      }
    },
    end(): void {
      ended = true;
      commit(monitor.closeAll());
      monitor.finished();
    },
    /** A SIGKILL: nothing of the monitor's memory is kept, the file stays as the last commit left it. */
    crash(): void {
      journal.stop();
      outbox.stop();
    },
  };
}

const figures = (drafts: RecordDraft[]) => drafts.map((d) => d.record);

describe('quality journal: pending predictions survive a restart', () => {
  const uninterrupted = (() => {
    const a = life(join(dir, `whole-${n++}.sqlite`), true);
    a.run(0, 200);
    a.end();
    return figures(a.published);
  })();

  it('a monitor rebuilt from the journal publishes the same windows as an uninterrupted one (replayed hours counted once)', () => {
    const file = join(dir, `crash-${n++}.sqlite`);
    const first = life(file, true);
    first.run(0, 88);
    first.crash();
    const second = life(file, true);
    // a replay resumes up to a second before the kill: the last batch is scored and committed again
    second.run(84, 200);
    second.end();
    expect(uninterrupted.length).toBeGreaterThan(5);
    expect([...figures(first.published), ...figures(second.published)]).toEqual(uninterrupted);
  });

  it('without the journal the same crash loses the predictions that had not matured (the test can fail)', () => {
    const file = join(dir, `lossy-${n++}.sqlite`);
    const first = life(file, false);
    first.run(0, 88);
    first.crash();
    const second = life(file, false);
    second.run(84, 200);
    second.end();
    expect([...figures(first.published), ...figures(second.published)]).not.toEqual(uninterrupted);
  });

  it('a stop before the end of input publishes nothing half-matured; the end of input clears the journal', () => {
    const file = join(dir, `stop-${n++}.sqlite`);
    const first = life(file, true);
    first.run(0, 88);
    // stopped, not ended: the windows stay pending for the next start
    const kept = first.monitor.closeAll().filter((d) => d.kind === 'quality');
    first.monitor.finished();
    expect(kept).toEqual([]);
    // the one tracker (the active model) kept its windows pending
    expect(first.lines.find((l) => l.msg === 'quality windows kept pending for the next start')).toMatchObject({ trackers: 1 });
    first.crash();
    const second = life(file, true);
    second.run(88, 200);
    second.end();
    expect([...figures(first.published), ...figures(second.published)]).toEqual(uninterrupted);
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM quality_journal').get()).toEqual({ n: 0 });
    db.close();
    second.crash();
  });

  it('keeps only what a tracker can still need: predictions from H before its last committed window, that window, the failures after it', () => {
    const file = join(dir, `prune-${n++}.sqlite`);
    // the newest failure is kept whatever its time; the older ones only while a tracker may need them
    const a = life(file, true, { recentFailures: 1 });
    a.run(0, 150);
    a.run(150, 151); // a takeDue after the last publication prunes by it
    const db = new Database(file, { readonly: true });
    // rows committed after that prune are indexed at the next one
    const rows = db.prepare('SELECT kind, t, n FROM quality_journal_index ORDER BY seq').all() as { kind: string; t: number; n: number }[];
    const marks = rows.filter((r) => r.kind === 'quality');
    expect(marks).toHaveLength(1);
    const mark = marks[0]!.t;
    expect(mark).toBe(at(120));
    // every batch kept has a prediction at or after mark - H; no batch wholly before it
    expect(rows.filter((r) => r.kind === 'predictions').every((r) => r.t >= mark - 24 * HOUR)).toBe(true);
    expect(rows.filter((r) => r.kind === 'events').map((r) => r.t)).toEqual([at(130)]);
    // the payloads the index let go of are gone too; the ones committed since wait for the next prune
    const payloads = db.prepare('SELECT count(*) AS n FROM quality_journal WHERE seq <= (SELECT max(seq) FROM quality_journal_index)').get();
    expect(payloads).toEqual({ n: rows.length });
    db.close();
    a.crash();
  });

  it('past the cap, the journal keeps what the memory keeps: a rebuilt monitor drops and counts what an uninterrupted one does, each once', () => {
    // 45-day windows hold over 1000 hourly predictions pending: past the cap of 1000 the oldest tenth goes, again and again,
    // and each window is published with the predictions it kept
    const quality = { maxPendingPredictions: 1000, windowSeconds: 45 * 86_400 };
    const whole = life(join(dir, `cap-whole-${n++}.sqlite`), true, { quality });
    whole.run(0, 2600);
    const wholeDropped = whole.dropped();
    whole.end();
    expect(wholeDropped).toBeGreaterThan(100);
    expect(whole.lines.find((l) => l.msg === 'pending predictions over the cap dropped')).toMatchObject({ dropped: 101, total: 101, maxPendingPredictions: 1000 });
    expect(whole.published.length).toBeGreaterThanOrEqual(2);
    // windows align to the epoch: one ends at hour 816, the next at 1896; pending from hour 792 on passes the cap at
    // hour 1792 and again at 1892. Killed right after a drop no prune saved yet, after one a prune saved, after the second
    for (const killAt of [1796, 1852, 1896]) {
      const file = join(dir, `cap-crash-${n++}.sqlite`);
      const first = life(file, true, { quality });
      first.run(0, killAt);
      first.crash();
      const second = life(file, true, { quality });
      // at most the cap is rebuilt: what the first life still held (after its last saved drop)
      expect(second.restored()).toBeLessThanOrEqual(1000 + 4);
      second.run(killAt - 4, 2600);
      const dropped = first.dropped() + second.dropped();
      second.end();
      expect([...figures(first.published), ...figures(second.published)]).toEqual(figures(whole.published));
      expect(dropped, `killed at ${killAt}`).toBe(wholeDropped);
      first.journal.stop();
    }
  });

  it('stays small for a model that publishes no quality windows (no horizon): pruned every tenth of the cap', () => {
    const file = join(dir, `rul-${n++}.sqlite`);
    const outbox = new SqliteOutbox({ file, deviceId: 'dev', synchronous: 'NORMAL', clock: new FakeClock(), log: silentLogger });
    outbox.start();
    const journal = new QualityJournal({ file, enabled: true, log: silentLogger });
    journal.start();
    const rul = { ...card, featureSpec: { ...card.featureSpec, task: 'remaining-useful-life', horizonHours: undefined } };
    const rulSet = { generation: 0, active: { model: { ref: { name: 'm', version: '1.0.0' }, card: rul as unknown as ModelCard } } } as unknown as ScoringSet;
    const monitor = new QualityMonitor({ config: qualityConfigSchema.parse({ maxPendingPredictions: 1000 }), assetId: 'a1', log: silentLogger, store: journal });
    monitor.start();
    monitor.running(rulSet);
    const db = new Database(file, { readonly: true });
    const held = () => (db.prepare('SELECT count(*) AS n FROM quality_journal').get() as { n: number }).n;
    let most = 0;
    for (let h = 0; h < 5000; h += 10) {
      const { horizonHours: _none, ...record } = (predictions(Array.from({ length: 10 }, (_, i) => h + i)) as Extract<RecordDraft, { kind: 'predictions' }>).record;
      const batch: RecordDraft = { kind: 'predictions', record };
      outbox.commit([batch]);
      monitor.scored(rulSet, [], [batch]);
      monitor.advance(at(h + 10));
      monitor.takeDue();
      most = Math.max(most, held());
    }
    // 500 batches committed; at most the 10 batches of a tenth of the cap wait for the next prune
    expect(most).toBeLessThanOrEqual(11);
    db.close();
    journal.stop();
    outbox.stop();
  });

  it('skips and logs an entry the protocol codec refuses, and reads the rest', () => {
    const file = join(dir, `unreadable-${n++}.sqlite`);
    const outbox = new SqliteOutbox({ file, deviceId: 'dev', synchronous: 'NORMAL', clock: new FakeClock(), log: silentLogger });
    outbox.start();
    const { log, lines } = captureLogger('warn');
    const journal = new QualityJournal({ file, enabled: true, log });
    journal.start();
    outbox.commit([predictions([1, 2])]);
    outbox.commit([failure(3)]);
    const db = new Database(file);
    db.prepare("UPDATE quality_journal SET payload = ? WHERE kind = 'predictions'").run(Buffer.from('{"not":"a record"'));
    db.close();
    const read = journal.read();
    expect(read.map((e) => e.kind)).toEqual(['events']);
    expect(lines.filter((l) => l['msg'] === 'quality journal entry unreadable; skipped')).toHaveLength(1);
    journal.stop();
    outbox.stop();
  });

  it('turned off, the trigger and the journal are removed and commits copy nothing', () => {
    const file = join(dir, `off-${n++}.sqlite`);
    const on = life(file, true);
    on.run(0, 8);
    on.crash();
    const outbox = new SqliteOutbox({ file, deviceId: 'dev', synchronous: 'NORMAL', clock: new FakeClock(), log: silentLogger });
    outbox.start();
    new QualityJournal({ file, enabled: false, log: silentLogger }).start();
    outbox.commit([predictions([9])]);
    outbox.stop();
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'quality_journal%'").all()).toEqual([]);
    db.close();
  });
});

describe('quality journal: never costs a record not sent yet', () => {
  it('at SQLITE_FULL the outbox gives the journal up before it evicts or refuses a record, and keeps committing', () => {
    const file = join(dir, `full-${n++}.sqlite`);
    const { log, lines } = captureLogger('warn');
    const journal = new QualityJournal({ file, enabled: true, log });
    const outbox = new SqliteOutbox({
      file, deviceId: 'dev', synchronous: 'NORMAL', maxFileBytes: 96 * 1024, giveUpSpace: () => journal.giveUp(), clock: new FakeClock(), log,
    });
    outbox.start();
    journal.start();
    // machine events: critical (never evicted) and journaled, so without giving the journal up half the file is copies
    const committed: number[] = [];
    for (let i = 0; i < 5_000 && journal.entriesGivenUp === 0; i++) committed.push(...outbox.commit([eventDraft(i)]).map((e) => e.seq));
    expect(journal.entriesGivenUp).toBe(committed.length - 1);
    expect(lines).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/^quality journal given up/), entries: journal.entriesGivenUp }));
    // about as many again fit in the space the copies held; routine records commit too
    for (let i = 0; i < committed.length / 2; i++) committed.push(...outbox.commit([eventDraft(i)]).map((e) => e.seq));
    expect(outbox.commit([predictionDraft()])).toHaveLength(1);
    expect(outbox.stats().dropped).toEqual({});
    expect(outbox.pending({ afterSeq: 0, limit: 10_000, classes: ['critical'] }).map((e) => e.seq)).toEqual(committed);
    // the monitor's prunes and the end of input find nothing to do, and throw nothing
    journal.prune({ keys: [], droppedThrough: {} });
    journal.clear();
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'quality_journal%'").all()).toEqual([]);
    db.close();
    journal.stop();
    outbox.stop();
  });
});

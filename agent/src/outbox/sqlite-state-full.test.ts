/**
 * States on a SQLite outbox at its file cap. States (Outbox.commit's `state`: the pipeline's snapshots)
 * rank below every record: where a commit finds no room they are left out first and the records are
 * committed without them (`statesStored` false, counted in `statesNotStored`, warned once, then at debug
 * level); they never evict a critical record nor give up the space others keep, and a commit of states
 * alone evicts nothing; a later commit of records that again finds no room evicts routine records for them. So a machine event is never lost
 * to keep room for a snapshot, and a commit of states alone never fails with OUTBOX_FAILED for want of
 * room (which would stop the pipeline's snapshots for the run): the pipeline carries them again in its next
 * commit, which stores them once deliveries or evictions for records made room.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { captureLogger } from '../testing/logger.js';
import { SqliteOutbox, type SqliteOutboxDeps } from './sqlite-outbox.js';
import { STATES_STORED_AT } from './sqlite-schema.js';
import { eventDraft, fillWithCritical, predictionDraft } from './suite-drafts.js';
import type { RecordDraft } from './outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-outbox-state-full-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An outbox file of `maxFileBytes` in this suite's dir (NORMAL sync), with `rest` of its deps (log, clock, giveUpSpace). */
const cappedOutbox = (name: string, maxFileBytes: number, rest: Pick<SqliteOutboxDeps, 'log'> & Partial<SqliteOutboxDeps>) =>
  new SqliteOutbox({ file: join(dir, name), deviceId: 'dev-1', synchronous: 'NORMAL', maxFileBytes, clock: new FakeClock(), ...rest });

describe('SqliteOutbox state at its file cap', () => {
  it('a state with no room beside shed records is not stored, the commit returns no entry, and the warning says the outbox is full', () => {
    const { log, lines } = captureLogger('warn');
    const clock = new FakeClock();
    const outbox = cappedOutbox('outbox.sqlite', 96 * 1024, { clock, log });
    outbox.start();
    const state = (bytes: number, fill: number) => ({ key: 'tail', value: Buffer.alloc(bytes, fill) });
    outbox.commit([predictionDraft([0.5])], state(2000, 1));
    outbox.ack(outbox.pending({ afterSeq: 0, limit: 10 }).map((e) => e.seq));
    // only critical records left, up to the cap
    const events = fillWithCritical(outbox);
    lines.length = 0;
    // a larger state needs pages the file cannot grow by (one of the same size reuses its own)
    expect(outbox.commit([predictionDraft([0.5])], state(6000, 2))).toEqual([]);
    expect(outbox.state('tail')).toEqual(state(2000, 1).value);
    expect(lines.map((l) => [l['msg'], l['keys']])).toEqual([['records not stored: outbox full', undefined], ['state not written: outbox full', ['tail']]]);
    // since when, as the status carries it
    expect(lines[1]).toMatchObject({ level: 40, statesNotStored: 1, since: new Date(clock.now()).toISOString() });

    // once deliveries make room, the next commit stores records and state together
    outbox.ack(events.slice(0, 200));
    expect(outbox.commit([predictionDraft([0.5])], state(6000, 3))).toHaveLength(1);
    expect(outbox.state('tail')).toEqual(state(6000, 3).value);
    outbox.stop();
  });

  it('a state left out in commit after commit is one stretch, dated from its first commit, ended only by a commit storing every key left out; the last store survives a restart', () => {
    const { log } = captureLogger('warn');
    const clock = new FakeClock();
    const file = join(dir, 'stretch.sqlite');
    const open = () => cappedOutbox('stretch.sqlite', 96 * 1024, { clock, log });
    /** The stored time as the file keeps it for the next start (meta, written with the states). */
    const storedAtInFile = (): unknown => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(STATES_STORED_AT);
      } finally {
        db.close();
      }
    };
    let outbox = open();
    outbox.start();
    const states = (tail: number, drift: number, fill: number) => [
      { key: 'feature-tail:m1', value: Buffer.alloc(tail, fill), resumePoint: true }, { key: 'drift', value: Buffer.alloc(drift, fill) },
    ];
    const t0 = clock.now();
    expect(outbox.commitWithStates([], states(2000, 500, 1)).statesStored).toBe(true);
    const events = fillWithCritical(outbox);
    const frozen = { statesNotStored: 1, stateStoredAt: t0, stateNotStoredSince: t0 + 1000 };
    for (let i = 1; i <= 3; i++) {
      clock.advance(1000);
      expect(outbox.commitWithStates([], states(8000, 3000, 1 + i)).statesStored).toBe(false);
      expect(outbox.stats()).toMatchObject(frozen);
    }
    // room again, but a commit of the drift alone leaves the resume point (the tail) as it was stored at t0,
    // in this process and in the file a restart reads it from
    outbox.ack(events.slice(0, 300));
    clock.advance(1000);
    expect(outbox.commitWithStates([], [{ key: 'drift', value: Buffer.alloc(3000, 9) }]).statesStored).toBe(true);
    expect(outbox.stats()).toMatchObject(frozen);
    expect(storedAtInFile()).toBe(t0);
    clock.advance(1000);
    const t5 = clock.now();
    expect(outbox.commitWithStates([], states(8000, 3000, 10)).statesStored).toBe(true);
    expect(outbox.stats()).toMatchObject({ statesNotStored: 1, stateStoredAt: t5, stateNotStoredSince: undefined });
    expect(storedAtInFile()).toBe(t5);

    // frozen again, then a restart: the file still dates the last stored states; this process has left none out yet
    fillWithCritical(outbox);
    clock.advance(1000);
    expect(outbox.commitWithStates([], states(20_000, 3000, 11)).statesStored).toBe(false);
    expect(outbox.stats()).toMatchObject({ statesNotStored: 2, stateStoredAt: t5, stateNotStoredSince: t5 + 1000 });
    outbox.stop();
    outbox = open();
    outbox.start();
    expect(outbox.stats()).toMatchObject({ statesNotStored: 0, stateStoredAt: t5, stateNotStoredSince: undefined });
    expect(outbox.state('feature-tail:m1')).toEqual(Buffer.alloc(8000, 10));
    outbox.stop();
  });

  const bigPrediction = (): RecordDraft => predictionDraft(Array.from({ length: 150 }, (_, i) => i / 150));

  it('a commit of states alone at the cap evicts nothing and gives up no space: the states are not stored', () => {
    const { log } = captureLogger('warn');
    let givenUp = 0;
    const outbox = cappedOutbox('alone.sqlite', 128 * 1024, { log, giveUpSpace: () => (givenUp++, false) });
    outbox.start();
    // routine records up to the cap (the outbox evicts to make room for each further one)
    for (let i = 0; i < 200; i++) outbox.commit([bigPrediction()]);
    const before = outbox.stats();
    const calls = givenUp;
    expect(before.dropped['disk-full:predictions']).toBeGreaterThan(0);
    const big = { key: 'tail', value: Buffer.alloc(90 * 1024, 7) };
    expect(outbox.commitWithStates([], [big])).toEqual({ entries: [], statesStored: false });
    expect(outbox.state('tail')).toBeUndefined();
    expect(outbox.stats()).toMatchObject({ depth: before.depth, dropped: before.dropped, statesNotStored: 1 });
    expect(givenUp).toBe(calls);
    outbox.stop();
  });

  it('an outbox full of critical records stores a machine event and leaves out the state committed with it', () => {
    const { log, lines } = captureLogger('warn');
    const outbox = cappedOutbox('critical-event.sqlite', 96 * 1024, { log });
    outbox.start();
    const events = fillWithCritical(outbox);
    // room for a few events, not for a 60 KB snapshot
    outbox.ack(events.slice(0, 50));
    const dropped = outbox.stats().dropped;
    lines.length = 0;
    const committed = outbox.commitWithStates([eventDraft(9999)], [{ key: 'tail', value: Buffer.alloc(60 * 1024, 5) }]);
    expect(committed.statesStored).toBe(false);
    expect(committed.entries.map((e) => e.kind)).toEqual(['events']);
    expect(outbox.pending({ afterSeq: 0, limit: 10_000 }).at(-1)?.seq).toBe(committed.entries[0]!.seq);
    expect(outbox.state('tail')).toBeUndefined();
    expect(outbox.stats().dropped).toEqual(dropped);
    expect(lines.map((l) => [l['msg'], l['keys']])).toEqual([['state not written: outbox full', ['tail']]]);
    // warned once; the next ones at debug level; the state carried again is the same stretch, counted once
    outbox.commitWithStates([eventDraft(10_000)], [{ key: 'tail', value: Buffer.alloc(60 * 1024, 6) }]);
    expect(lines).toHaveLength(1);
    expect(outbox.stats().statesNotStored).toBe(1);
    outbox.stop();
  });

  it('a commit of states alone with only critical records left says the states were not stored, and a later one stores them', () => {
    const { log, lines } = captureLogger('warn');
    const outbox = cappedOutbox('alone-critical.sqlite', 96 * 1024, { log });
    outbox.start();
    outbox.commitWithStates([], [{ key: 'tail', value: Buffer.alloc(2000, 1) }]);
    const events = fillWithCritical(outbox);
    lines.length = 0;
    expect(outbox.commitWithStates([], [{ key: 'tail', value: Buffer.alloc(6000, 2) }])).toEqual({ entries: [], statesStored: false });
    expect(outbox.state('tail')).toEqual(Buffer.alloc(2000, 1));
    expect(lines.map((l) => [l['msg'], l['keys']])).toEqual([['state not written: outbox full', ['tail']]]);
    // deliveries make room: the snapshots go on
    outbox.ack(events.slice(0, 200));
    expect(outbox.commitWithStates([], [{ key: 'tail', value: Buffer.alloc(6000, 3) }])).toEqual({ entries: [], statesStored: true });
    expect(outbox.state('tail')).toEqual(Buffer.alloc(6000, 3));
    outbox.stop();
  });

  it('at a cap full of routine records, a state larger than a make-room round gets in: the next commit evicts routine records for it too', () => {
    const { log } = captureLogger('warn');
    let givenUp = 0;
    const outbox = cappedOutbox('routine-cap.sqlite', 1024 * 1024, { log, giveUpSpace: () => (givenUp++, false) });
    outbox.start();
    // the usual offline steady state: routine predictions up to the cap
    for (let i = 0; i < 20; i++) outbox.commit(Array.from({ length: 25 }, bigPrediction));
    // then one at a time, so that the last make-room freed what one record needs
    for (let i = 0; i < 40; i++) outbox.commit([bigPrediction()]);
    expect(outbox.stats().dropped['disk-full:predictions']).toBeGreaterThan(0);
    let stored = 0;
    let afterMiss = 0;
    let stretches = 0;
    for (let i = 0, missed = false; i < 16; i++) {
      const value = Buffer.alloc(80 * 1024 + ((i * 7919) % (70 * 1024)), i % 251);
      const calls = givenUp;
      const committed = outbox.commitWithStates([bigPrediction()], [{ key: 'tail', value }]);
      expect(committed.entries).toHaveLength(1);
      if (committed.statesStored) {
        stored++;
        expect(outbox.state('tail')).toEqual(value);
        // room made for a state left out comes from routine records, never from the space others keep
        if (missed) {
          afterMiss++;
          expect(givenUp).toBe(calls);
        }
      }
      // a miss after a commit that stored them starts a stretch; a miss right after a miss continues it
      if (!committed.statesStored && !missed) stretches++;
      missed = !committed.statesStored;
    }
    expect(afterMiss).toBeGreaterThan(0);
    // stored in most commits (0 of 16 before the fix): a commit after a miss makes room for it
    expect(stored).toBeGreaterThan(8);
    expect(stretches).toBeGreaterThan(0);
    expect(outbox.stats().statesNotStored).toBe(stretches);
    expect(outbox.stats().dropped['disk-full:critical'] ?? 0).toBe(0);
    outbox.stop();
  });
});

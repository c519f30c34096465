/**
 * States on a SQLite outbox at its file cap. A state committed with records (Outbox.commit's `state`, the pipeline's feature-window snapshot) on a
 * SQLite outbox at its file cap: when only critical records are left and the routine records of a commit
 * are shed, the state is tried alone; where it finds no room either, the commit still returns normally,
 * with no entry, which is how the caller learns that its state may not be stored (the pipeline then
 * carries it in its next commit again), and the warning says why. A commit of states alone takes the
 * same way as records (eviction, then retry) and says whether they were stored (commitWithStates): it
 * never fails with OUTBOX_FAILED for want of room, which would stop the pipeline's snapshots for the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { captureLogger } from '../testing/logger.js';
import { SqliteOutbox } from './sqlite-outbox.js';
import { eventDraft, predictionDraft } from './suite-drafts.js';
import type { RecordDraft } from './outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-outbox-state-full-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteOutbox state at its file cap', () => {
  it('a state with no room beside shed records is not stored, the commit returns no entry, and the warning says the outbox is full', () => {
    const { log, lines } = captureLogger('warn');
    const outbox = new SqliteOutbox({ file: join(dir, 'outbox.sqlite'), deviceId: 'dev-1', synchronous: 'NORMAL', maxFileBytes: 96 * 1024, clock: new FakeClock(), log });
    outbox.start();
    const state = (bytes: number, fill: number) => ({ key: 'tail', value: Buffer.alloc(bytes, fill) });
    outbox.commit([predictionDraft([0.5])], state(2000, 1));
    outbox.ack(outbox.pending({ afterSeq: 0, limit: 10 }).map((e) => e.seq));
    // only critical records left, up to the cap
    const events: number[] = [];
    for (let i = 0; ; i++) {
      try {
        events.push(...outbox.commit([eventDraft(i)]).map((e) => e.seq));
      } catch {
        break;
      }
    }
    lines.length = 0;
    // a larger state needs pages the file cannot grow by (one of the same size reuses its own)
    expect(outbox.commit([predictionDraft([0.5])], state(6000, 2))).toEqual([]);
    expect(outbox.state('tail')).toEqual(state(2000, 1).value);
    expect(lines.map((l) => [l['msg'], l['keys']])).toEqual([['records not stored: outbox full', undefined], ['state not written: outbox full', ['tail']]]);
    expect(lines[1]!['level']).toBe(40);

    // once deliveries make room, the next commit stores records and state together
    outbox.ack(events.slice(0, 200));
    expect(outbox.commit([predictionDraft([0.5])], state(6000, 3))).toHaveLength(1);
    expect(outbox.state('tail')).toEqual(state(6000, 3).value);
    outbox.stop();
  });

  const bigPrediction = (): RecordDraft => predictionDraft(Array.from({ length: 150 }, (_, i) => i / 150));

  it('a commit of states alone at the cap evicts routine records and stores the states, as a commit of records does', () => {
    const { log } = captureLogger('warn');
    const outbox = new SqliteOutbox({ file: join(dir, 'alone.sqlite'), deviceId: 'dev-1', synchronous: 'NORMAL', maxFileBytes: 128 * 1024, clock: new FakeClock(), log });
    outbox.start();
    // routine records up to the cap (the outbox evicts to make room for each further one)
    for (let i = 0; i < 200; i++) outbox.commit([bigPrediction()]);
    const before = outbox.stats();
    expect(before.dropped['disk-full:predictions']).toBeGreaterThan(0);
    const big = { key: 'tail', value: Buffer.alloc(90 * 1024, 7) };
    expect(outbox.commitWithStates([], [big])).toEqual({ entries: [], statesStored: true });
    expect(outbox.state('tail')).toEqual(big.value);
    // room was made by the policy: routine records evicted and counted
    expect(outbox.stats().dropped['disk-full:predictions']).toBeGreaterThan(before.dropped['disk-full:predictions']!);
    expect(outbox.stats().depth).toBeLessThan(before.depth);
    outbox.stop();
  });

  it('a commit of states alone with only critical records left says the states were not stored, and a later one stores them', () => {
    const { log, lines } = captureLogger('warn');
    const outbox = new SqliteOutbox({ file: join(dir, 'alone-critical.sqlite'), deviceId: 'dev-1', synchronous: 'NORMAL', maxFileBytes: 96 * 1024, clock: new FakeClock(), log });
    outbox.start();
    outbox.commitWithStates([], [{ key: 'tail', value: Buffer.alloc(2000, 1) }]);
    const events: number[] = [];
    for (let i = 0; ; i++) {
      try {
        events.push(...outbox.commit([eventDraft(i)]).map((e) => e.seq));
      } catch {
        break;
      }
    }
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
});

import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import type { Database } from '../db/database.js';
import { testDatabase } from '../testing/test-database.js';
import { AuditLog } from './audit-log.js';

let db: Database;
let audit: AuditLog;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock('2026-03-01T00:00:00.000Z');
  db = await testDatabase();
  audit = new AuditLog(db, clock);
  const alice = { name: 'alice', role: 'engineer' as const };
  for (let i = 1; i <= 7; i++) {
    clock.advance(60_000);
    audit.record({ actor: i % 2 === 0 ? alice : { name: 'controller', role: null }, action: i < 5 ? 'rollout.stage-pass' : 'model.publish', target: { type: i < 5 ? 'rollout' : 'model', id: `t${i % 3}` }, reason: `r${i}`, detail: { i } });
  }
});

describe('AuditLog', () => {
  it('pages newest first with before = nextBefore until the end', () => {
    const first = audit.list({ limit: 3 });
    expect(first.entries.map((e) => e.detail.i)).toEqual([7, 6, 5]);
    const second = audit.list({ limit: 3, before: first.nextBefore! });
    expect(second.entries.map((e) => e.detail.i)).toEqual([4, 3, 2]);
    const last = audit.list({ limit: 3, before: second.nextBefore! });
    expect(last).toMatchObject({ nextBefore: null });
    expect(last.entries.map((e) => e.detail.i)).toEqual([1]);
  });

  it('filters by actor, exact action or prefix, target and time', () => {
    expect(audit.list({ actor: 'alice' }).entries.map((e) => e.detail.i)).toEqual([6, 4, 2]);
    expect(audit.list({ action: 'rollout.' }).entries).toHaveLength(4);
    expect(audit.list({ action: 'rollout' }).entries).toHaveLength(0);
    expect(audit.list({ targetType: 'model', targetId: 't2' }).entries.map((e) => e.detail.i)).toEqual([5]);
    expect(audit.list({ since: '2026-03-01T00:05:00.000Z', until: '2026-03-01T00:06:00.000Z' }).entries.map((e) => e.detail.i)).toEqual([6, 5]);
    expect(audit.list({ actor: 'controller' }).entries[0]).toMatchObject({ role: null, at: '2026-03-01T00:07:00.000Z', reason: 'r7', target: { type: 'model', id: 't1' } });
  });
});

/**
 * The delivery part of the device view (issue 4): last delivered (contiguous) seq, the device's
 * backlog and drops from its heartbeat, quarantined outboxes, and the holes in the stored seqs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as fx from '../testing/fixtures.js';
import { suiteDatabase } from '../testing/test-database.js';
import { DevicesRepo } from './devices-repo.js';
import { RecordsRepo } from './records-repo.js';

const database = suiteDatabase();
let devices: DevicesRepo;
let records: RecordsRepo;
const t0 = Date.parse('2026-01-01T00:00:00.000Z');

beforeAll(() => {
  devices = new DevicesRepo(database.handle);
  records = new RecordsRepo(database.handle);
});

function store(deviceId: string, seqs: number[]): void {
  database.handle.transaction(() => {
    for (const seq of seqs) records.store('metrics', fx.metrics(deviceId, seq), `h${seq}`, t0);
  })();
}

describe('DevicesRepo delivery view', () => {
  it('shows backlog, drops by reason and quarantined outboxes from the heartbeat, and the contiguous seq', () => {
    const counters = {
      ...fx.status('gw-d').counters!,
      outboxDepth: 120, outboxBytes: 64_000, dropped: { 'cap-age:predictions': 30, 'disk-full:metrics': 2 },
      outboxByClass: { critical: 1, metrics: 19, predictions: 100, samples: 0 }, oldestPending: '2026-01-01T00:00:00.000Z',
      outboxQuarantined: [{ at: '2025-12-31T00:00:00.000Z', movedTo: 'outbox.sqlite.corrupt-2025-12-31T00-00-00-000Z', reason: 'SQLITE_NOTADB' }],
    };
    devices.applyStatus(fx.status('gw-d', { lastSeq: 40, counters }), t0, true);
    store('gw-d', [1, 2, 3, 5, 6, 9]);
    expect(devices.get('gw-d')!.delivery).toEqual({
      lastDeliveredSeq: 3,
      backlog: { depth: 120, bytes: 64_000, byClass: { critical: 1, metrics: 19, predictions: 100, samples: 0 }, oldestPending: '2026-01-01T00:00:00.000Z' },
      dropped: { total: 32, byReason: { 'cap-age:predictions': 30, 'disk-full:metrics': 2 } },
      quarantined: counters.outboxQuarantined,
    });
    expect(devices.list().find((d) => d.deviceId === 'gw-d')!.delivery.lastDeliveredSeq).toBe(3);
  });

  it('lists the holes above the contiguous seq, oldest first, up to a limit', () => {
    expect(devices.gaps('gw-d', 50)).toEqual({ gaps: [{ first: 4, last: 4 }, { first: 7, last: 8 }], truncated: false });
    expect(devices.gaps('gw-d', 1)).toEqual({ gaps: [{ first: 4, last: 4 }], truncated: true });
    store('gw-d', [4]);
    expect(devices.gaps('gw-d', 50).gaps).toEqual([{ first: 7, last: 8 }]);
    expect(devices.get('gw-d')!.delivery.lastDeliveredSeq).toBe(6);
  });

  it('shows a hole before the first stored seq, and none for a device without records or heartbeat counters', () => {
    devices.applyStatus(fx.will('gw-e'), t0, true);
    store('gw-e', [3, 4]);
    expect(devices.gaps('gw-e', 50).gaps).toEqual([{ first: 1, last: 2 }]);
    expect(devices.get('gw-e')!.delivery).toEqual({
      lastDeliveredSeq: 0, backlog: null, dropped: { total: 0, byReason: {} }, quarantined: [],
    });
    expect(devices.gaps('gw-none', 50)).toEqual({ gaps: [], truncated: false });
  });
});

describe('DevicesRepo restart state', () => {
  const restart = (statesNotStored: number, stateStoredAt: string | null, stateNotStoredSince: string | null) =>
    ({ ...fx.status('x').counters!, statesNotStored, stateStoredAt, stateNotStoredSince });

  it('shows what the agent reports, null for an agent that does not, and keeps it through a last will', () => {
    devices.applyStatus(fx.status('rs-old'), t0, true);
    expect(devices.get('rs-old')!.restartState).toBeNull();
    devices.applyStatus(fx.status('rs-ok', { counters: restart(0, '2026-01-01T00:00:00.000Z', null) }), t0, true);
    expect(devices.get('rs-ok')!.restartState).toEqual({ frozen: false, storedAt: '2026-01-01T00:00:00.000Z', notStoredSince: null, stretches: 0 });
    devices.applyStatus(fx.status('rs-full', { counters: restart(2, null, '2026-01-01T01:00:00.000Z') }), t0, true);
    devices.applyStatus(fx.will('rs-full'), t0 + 1000, true);
    const view = devices.get('rs-full')!;
    expect(view.state).toBe('offline');
    // an offline device whose resume point was frozen stays frozen: its restart replays from the old mark
    expect(view.restartState).toEqual({ frozen: true, storedAt: null, notStoredSince: '2026-01-01T01:00:00.000Z', stretches: 2 });
  });

  it('counts the frozen devices of the summary and lists first the oldest resume point (stored time, else frozen since), whatever their times\' offsets', () => {
    // rs-b stored at 01:00+02:00, 23:00 the day before: older than rs-a, which has no stored time and is frozen since 00:30
    devices.applyStatus(fx.status('rs-a', { site: 'plant-r', counters: restart(1, null, '2026-01-01T00:30:00.000Z') }), t0, true);
    devices.applyStatus(fx.status('rs-b', { site: 'plant-r', counters: restart(1, '2026-01-01T01:00:00+02:00', '2026-01-01T01:30:00+02:00') }), t0, true);
    devices.applyStatus(fx.status('rs-c', { site: 'plant-r', counters: restart(3, '2025-12-31T20:00:00.000Z', null) }), t0, true);
    devices.applyStatus(fx.status('rs-d', { site: 'plant-r' }), t0, true);
    // frozen last of all, but its resume point is the oldest (restarted since it froze first): a restart replays the most
    devices.applyStatus(fx.status('rs-e', { site: 'plant-r', counters: restart(1, '2025-12-30T00:00:00+01:00', '2026-01-01T03:00:00.000Z') }), t0, true);
    expect(devices.summary({ site: 'plant-r' }, 20).restartState).toEqual({
      frozen: 3,
      longest: [
        { deviceId: 'rs-e', state: 'online', notStoredSince: '2026-01-01T03:00:00.000Z', storedAt: '2025-12-30T00:00:00+01:00' },
        { deviceId: 'rs-b', state: 'online', notStoredSince: '2026-01-01T01:30:00+02:00', storedAt: '2026-01-01T01:00:00+02:00' },
        { deviceId: 'rs-a', state: 'online', notStoredSince: '2026-01-01T00:30:00.000Z', storedAt: null },
      ],
    });
    expect(devices.summary({ site: 'plant-r' }, 1).restartState.longest.map((d) => d.deviceId)).toEqual(['rs-e']);
    // once the device stores it again, it is no longer counted
    devices.applyStatus(fx.status('rs-b', { site: 'plant-r', counters: restart(1, '2026-01-01T02:00:00.000Z', null) }), t0, true);
    expect(devices.summary({ site: 'plant-r' }, 20).restartState).toMatchObject({ frozen: 2, longest: [{ deviceId: 'rs-e' }, { deviceId: 'rs-a' }] });
  });
});

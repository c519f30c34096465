/**
 * The restart-state figures of the status message, from a real SQLite outbox at its file cap: frozen
 * while the snapshots find no room, current again once a commit stores them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePayload, encodePayload } from '@pdm/protocol';
import { Counters } from '../metrics/counters.js';
import { SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { fillWithCritical } from '../outbox/suite-drafts.js';
import { FakeClock } from '../testing/fake-clock.js';
import { silentLogger } from '../testing/logger.js';
import { statusBuilder } from './status.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('statusBuilder: the restart state', () => {
  it('reports when the snapshots were last stored, since when they are left out, and the stretches, as the protocol reads them', () => {
    const clock = new FakeClock();
    const outbox = new SqliteOutbox({ file: join(dir, 'outbox.sqlite'), deviceId: 'edge-1', synchronous: 'NORMAL', maxFileBytes: 96 * 1024, clock, log: silentLogger });
    outbox.start();
    const status = statusBuilder({
      identity: { deviceId: 'edge-1', assetId: 'm3', assetClass: 'pump', site: 'plant', bootId: 'boot' },
      models: () => [], counters: new Counters(), outbox, clock,
    });
    // what the controller gets: encoded and decoded by the topic's schema
    const counters = () => decodePayload('status', encodePayload('status', status('online')), 'edge-1').counters;
    expect(counters()).toMatchObject({ statesNotStored: 0, stateStoredAt: null, stateNotStoredSince: null });

    const storedAt = new Date(clock.now()).toISOString();
    outbox.commitWithStates([], [{ key: 'feature-tail:m3', value: Buffer.alloc(2000, 1), resumePoint: true }]);
    const events = fillWithCritical(outbox);
    clock.advance(60_000);
    const frozenAt = new Date(clock.now()).toISOString();
    for (let i = 0; i < 3; i++) {
      expect(outbox.commitWithStates([], [{ key: 'feature-tail:m3', value: Buffer.alloc(8000, 2 + i), resumePoint: true }]).statesStored).toBe(false);
      clock.advance(1000);
    }
    expect(counters()).toMatchObject({ statesNotStored: 1, stateStoredAt: storedAt, stateNotStoredSince: frozenAt });

    outbox.ack(events.slice(0, 300));
    const currentAt = new Date(clock.now()).toISOString();
    expect(outbox.commitWithStates([], [{ key: 'feature-tail:m3', value: Buffer.alloc(8000, 9), resumePoint: true }]).statesStored).toBe(true);
    expect(counters()).toMatchObject({ statesNotStored: 1, stateStoredAt: currentAt, stateNotStoredSince: null });
    outbox.stop();
  });
});

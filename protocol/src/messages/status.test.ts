import { describe, expect, it } from 'vitest';
import { decodePayload } from '../codec.js';

const base = {
  deviceId: 'gw-1', state: 'online', time: '2026-11-27T10:00:00.000Z', agentVersion: '0.1.0', bootId: 'b1',
  assetId: 'm1', assetClass: 'model3', site: 'plant-a', models: [], lastSeq: 3,
};
const counters = { readings: 3, rejectedReadings: {}, inferences: 3, alerts: 0, outboxDepth: 0, outboxBytes: 0, delivered: 3, dropped: {} };
const decode = (payload: unknown) => decodePayload('status', Buffer.from(JSON.stringify(payload)), 'gw-1');

describe('status: the restart-state fields', () => {
  it('accepts the counters of an agent from before them, which leave them out', () => {
    expect(decode({ ...base, counters }).counters).toEqual(counters);
  });

  it('accepts a stored and a frozen restart state', () => {
    const stored = { ...counters, statesNotStored: 0, stateStoredAt: '2026-11-27T09:59:58.000Z', stateNotStoredSince: null };
    expect(decode({ ...base, counters: stored }).counters).toEqual(stored);
    const frozen = { ...counters, statesNotStored: 2, stateStoredAt: null, stateNotStoredSince: '2026-11-27T09:00:00.000Z' };
    expect(decode({ ...base, counters: frozen }).counters).toEqual(frozen);
  });

  it('says which field is wrong', () => {
    expect(() => decode({ ...base, counters: { ...counters, statesNotStored: -1 } })).toThrow(/counters\.statesNotStored/);
    expect(() => decode({ ...base, counters: { ...counters, stateStoredAt: 'yesterday' } })).toThrow(/counters\.stateStoredAt/);
    expect(() => decode({ ...base, counters: { ...counters, stateNotStoredSince: 0 } })).toThrow(/counters\.stateNotStoredSince/);
  });
});

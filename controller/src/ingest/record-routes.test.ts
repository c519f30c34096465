import { describe, expect, it } from 'vitest';
import { downKinds, recordKinds, upKinds, upTopic } from '@pdm/protocol';
import { RecordRoutes } from './record-routes.js';

describe('RecordRoutes', () => {
  it('says the device and kind of record topics only, the same when asked again', () => {
    const routes = new RecordRoutes();
    for (let round = 0; round < 2; round++) {
      for (const kind of upKinds) {
        const expected = (recordKinds as readonly string[]).includes(kind) ? { deviceId: 'gw-1', kind } : undefined;
        expect(routes.of(upTopic('gw-1', kind)), kind).toEqual(expected);
      }
      for (const topic of [
        ...downKinds.map((k) => `pdm/v1/gw-1/down/${k}`), 'pdm/v1/gw-1/down/predictions', 'pdm/v1/bad id/up/predictions',
        'pdm/v1/gw-1/up/predictions/x', 'pdm/v2/gw-1/up/predictions', 'pdm/v1//up/predictions', 'other',
      ]) expect(routes.of(topic), topic).toBeUndefined();
    }
  });

  it('answers the same past its table size (it starts the table again)', () => {
    const routes = new RecordRoutes();
    for (let i = 0; i < 60_000; i++) routes.of(upTopic(`gw-${i}`, 'predictions'));
    expect(routes.of(upTopic('gw-0', 'metrics'))).toEqual({ deviceId: 'gw-0', kind: 'metrics' });
    expect(routes.of(upTopic('gw-59999', 'status'))).toBeUndefined();
  });
});

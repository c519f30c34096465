import { describe, expect, it } from 'vitest';
import {
  allDevicesFilter, deviceDownFilter, devicePrefixFilter, downKinds, matchesUpstreamFilter, parseTopic, topicFor, topicSpecs, upKinds,
} from './topics.js';

describe('topics', () => {
  it('builds and parses every kind for a device', () => {
    for (const kind of [...upKinds, ...downKinds]) {
      const topic = topicFor('gw-01', kind);
      expect(topic).toBe(`pdm/v1/gw-01/${topicSpecs[kind].direction}/${kind}`);
      expect(parseTopic(topic)).toMatchObject({ deviceId: 'gw-01', kind, direction: topicSpecs[kind].direction });
    }
  });

  it('keeps everything of a device under one prefix', () => {
    expect(devicePrefixFilter('m7')).toBe('pdm/v1/m7/#');
    expect(deviceDownFilter('m7')).toBe('pdm/v1/m7/down/+');
    expect(allDevicesFilter('predictions')).toBe('pdm/v1/+/up/predictions');
  });

  it('refuses device ids that would break a topic', () => {
    for (const bad of ['', 'a/b', '+', '#', 'a+b', 'x'.repeat(65), 'bad\u0000', ' lead']) {
      expect(() => topicFor(bad, 'status')).toThrow(/deviceId/);
    }
  });

  it('returns undefined for anything that is not exactly a pdm topic', () => {
    for (const bad of [
      'pdm/v1/gw/up', 'pdm/v2/gw/up/status', 'pdm/v1/gw/down/status', 'pdm/v1/gw/up/cmd',
      'pdm/v1/gw/up/status/extra', 'pdm/v1/g+w/up/status', 'pdm/v1/gw/up/__proto__', 'other/v1/gw/up/status',
    ]) {
      expect(parseTopic(bad)).toBeUndefined();
    }
  });

  it('says which topics an upstream allDevicesFilter matches, valid deviceId or not', () => {
    for (const kind of upKinds) {
      expect(matchesUpstreamFilter(topicFor('gw', kind)), kind).toBe(true);
      expect(matchesUpstreamFilter(`pdm/v1/bad id!/up/${kind}`), kind).toBe(true);
      expect(matchesUpstreamFilter(`pdm/v1//up/${kind}`), kind).toBe(true);
    }
    for (const other of [
      ...downKinds.map((k) => topicFor('gw', k)), 'pdm/v1/gw/up/nothing', 'pdm/v1/gw/up/status/more', 'pdm/v1/gw/x/up/status',
      'pdm/v1/gw/up', 'pdm/v1/gw/up/', 'pdm/v2/gw/up/status', 'xpdm/v1/gw/up/status', 'pdm/v1/up/status', 'pdm/v1/gw/up/__proto__',
      'pdm/v1/gw/down/status', 'other',
    ]) {
      expect(matchesUpstreamFilter(other), other).toBe(false);
    }
  });
});

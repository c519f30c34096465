import { describe, expect, it } from 'vitest';
import { downKinds, parseTopic, upKinds } from '@pdm/protocol';
import { TopicMemo } from './topic-memo.js';

const topics = [
  ...upKinds.map((k) => `pdm/v1/gw-1/up/${k}`), ...downKinds.map((k) => `pdm/v1/gw-1/down/${k}`),
  'pdm/v1/gw-1/down/predictions', 'pdm/v1/gw-1/up/cmd', 'pdm/v1/bad id/up/predictions', 'pdm/v1/gw-1/up/predictions/x',
  'pdm/v2/gw-1/up/predictions', 'pdm/v1//up/predictions', 'pdm/v1/gw-1/up/__proto__', 'pdm/v1/gw-1/up/toString', 'other', '',
  `pdm/v1/d${'x'.repeat(63)}/up/predictions`, `pdm/v1/d${'x'.repeat(64)}/up/predictions`, `pdm/v1/${'y'.repeat(5000)}/up/status`,
];
const device = (i: number) => `pdm/v1/gw-${i}/up/predictions`;

describe('TopicMemo', () => {
  it('answers what parseTopic answers, also when asked again', () => {
    const memo = new TopicMemo();
    for (let round = 0; round < 2; round++) {
      for (const topic of topics) expect(memo.of(topic), topic).toEqual(parseTopic(topic));
    }
  });

  it('remembers pdm topics (the same object when asked again) and nothing else', () => {
    const memo = new TopicMemo();
    for (const topic of topics) memo.of(topic);
    const valid = topics.filter((t) => parseTopic(t) !== undefined);
    expect(memo.size).toBe(valid.length);
    for (const topic of valid) expect(memo.of(topic), topic).toBe(memo.of(topic));
  });

  it('keeps at most its capacity, forgetting the oldest topic one at a time', () => {
    const memo = new TopicMemo(1000);
    const first = Array.from({ length: 1000 }, (_v, i) => memo.of(device(i)));
    expect(memo.size).toBe(1000);
    // 250 new topics forget the 250 oldest and nothing more
    for (let i = 1000; i < 1250; i++) memo.of(device(i));
    expect(memo.size).toBe(1000);
    for (let i = 250; i < 1000; i++) expect(memo.of(device(i)), device(i)).toBe(first[i]);
    expect(memo.size).toBe(1000);
    expect(memo.of(device(0))).not.toBe(first[0]);
    expect(memo.of(device(0))).toEqual(first[0]);
  });

  it('stays bounded and right over many rounds past its capacity', () => {
    const memo = new TopicMemo(500);
    for (let i = 0; i < 20_000; i++) memo.of(device(i % 3000));
    expect(memo.size).toBe(500);
    for (const topic of topics) expect(memo.of(topic), topic).toEqual(parseTopic(topic));
    expect(memo.size).toBe(500);
  });
});

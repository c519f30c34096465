import { describe, expect, it } from 'vitest';
import { downKinds, parseTopic, upKinds } from '@pdm/protocol';
import { TopicMemo } from './topic-memo.js';

const topics = [
  ...upKinds.map((k) => `pdm/v1/gw-1/up/${k}`), ...downKinds.map((k) => `pdm/v1/gw-1/down/${k}`),
  'pdm/v1/gw-1/down/predictions', 'pdm/v1/gw-1/up/cmd', 'pdm/v1/bad id/up/predictions', 'pdm/v1/gw-1/up/predictions/x',
  'pdm/v2/gw-1/up/predictions', 'pdm/v1//up/predictions', 'pdm/v1/gw-1/up/__proto__', 'pdm/v1/gw-1/up/toString', 'other', '',
  `pdm/v1/d${'x'.repeat(63)}/up/predictions`, `pdm/v1/d${'x'.repeat(64)}/up/predictions`, `pdm/v1/${'y'.repeat(5000)}/up/status`,
];

describe('TopicMemo', () => {
  it('answers what parseTopic answers, also when asked again', () => {
    const memo = new TopicMemo();
    for (let round = 0; round < 2; round++) {
      for (const topic of topics) expect(memo.of(topic), topic).toEqual(parseTopic(topic));
    }
  });

  it('answers the same past its table size (it starts the table again)', () => {
    const memo = new TopicMemo();
    for (let i = 0; i < 60_000; i++) memo.of(`pdm/v1/gw-${i}/up/predictions`);
    for (const topic of topics) expect(memo.of(topic), topic).toEqual(parseTopic(topic));
    expect(memo.of('pdm/v1/gw-0/up/predictions')).toEqual(parseTopic('pdm/v1/gw-0/up/predictions'));
  });
});

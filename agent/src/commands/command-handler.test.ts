import { describe, expect, it } from 'vitest';
import { replySchema, type Reply } from '@pdm/protocol';
import { Counters } from '../metrics/counters.js';
import { FakeClock } from '../testing/fake-clock.js';
import { silentLogger } from '../testing/logger.js';
import { CommandHandler, type CommandLink } from './command-handler.js';

class RecordingLink implements CommandLink {
  readonly replies: Reply[] = [];
  fail = false;
  onMessage(): () => void {
    return () => undefined;
  }
  async publishPayload(_kind: 'reply', payload: Reply): Promise<void> {
    if (this.fail) throw new Error('not connected');
    expect(replySchema.safeParse(payload).success).toBe(true);
    this.replies.push(payload);
  }
}

function setup() {
  const link = new RecordingLink();
  const counters = new Counters();
  let reports = 0;
  const handler = new CommandHandler({
    deviceId: 'edge-1',
    link,
    actions: {
      reportState: async () => {
        reports++;
      },
      describe: () => ({ lastSeq: 7 }),
    },
    counters,
    clock: new FakeClock(),
    log: silentLogger,
    memory: 2,
  });
  return { link, counters, handler, reports: () => reports };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const T = '2020-01-01T00:00:00.000Z';

describe('CommandHandler', () => {
  it('answers ping and report-state with ok replies', async () => {
    const { link, handler, reports } = setup();
    await handler.handle(json({ id: 'c1', time: T, type: 'ping' }));
    await handler.handle(json({ id: 'c2', time: T, type: 'report-state' }));
    expect(reports()).toBe(1);
    expect(link.replies).toEqual([
      { deviceId: 'edge-1', commandId: 'c1', time: T, status: 'ok', data: { time: T } },
      { deviceId: 'edge-1', commandId: 'c2', time: T, status: 'ok', data: { lastSeq: 7 } },
    ]);
  });

  it('answers a repeated id from memory without acting twice, even while the first is running', async () => {
    const { link, handler, reports } = setup();
    const cmd = json({ id: 'r1', time: T, type: 'report-state' });
    await Promise.all([handler.handle(cmd), handler.handle(cmd)]);
    await handler.handle(cmd);
    expect(reports()).toBe(1);
    expect(link.replies).toHaveLength(3);
    expect(new Set(link.replies.map((r) => JSON.stringify(r))).size).toBe(1);
  });

  it('forgets the oldest ids beyond its memory', async () => {
    const { handler, reports } = setup();
    for (const id of ['a', 'b', 'c', 'a']) await handler.handle(json({ id, time: T, type: 'report-state' }));
    expect(reports()).toBe(4);
  });

  it('counts invalid commands, answers those with an id with an error, and never throws', async () => {
    const { link, counters, handler } = setup();
    const bad = [
      Buffer.from('not json'),
      json({ id: 'x1', time: T, type: 'self-destruct' }),
      json({ id: 'x2', type: 'ping' }),
      json([1, 2]),
      json({ id: 'bad id with spaces', time: T, type: 'nope' }),
      Buffer.alloc(70 * 1024, 0x20),
      Buffer.from([0xff, 0xfe, 0x00]),
    ];
    for (const payload of bad) await handler.handle(payload);
    expect(counters.invalidCommands).toBe(bad.length);
    expect(link.replies.map((r) => [r.commandId, r.status, r.status === 'error' ? r.error.code : ''])).toEqual([
      ['x1', 'error', 'PAYLOAD_INVALID'],
      ['x2', 'error', 'PAYLOAD_INVALID'],
    ]);
  });

  it('survives a reply that cannot be published', async () => {
    const { link, handler } = setup();
    link.fail = true;
    await expect(handler.handle(json({ id: 'p', time: T, type: 'ping' }))).resolves.toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { PdmError } from '@pdm/protocol';
import { Agent, type Part } from './agent.js';
import { captureLogger } from './testing/logger.js';

function parts(calls: string[], failing: Record<string, 'start' | 'stop'> = {}, essential: string[] = []): Part[] {
  return ['outbox', 'link', 'health', 'source'].map((name) => ({
    name,
    essential: essential.includes(name),
    async start() {
      calls.push(`start ${name}`);
      if (failing[name] === 'start') throw new PdmError('INTERNAL', `${name} broke`);
    },
    stop() {
      calls.push(`stop ${name}`);
      if (failing[name] === 'stop') throw new PdmError('INTERNAL', `${name} broke`);
    },
  }));
}

describe('Agent', () => {
  it('starts parts in order and stops them in reverse', async () => {
    const calls: string[] = [];
    const agent = new Agent({ parts: parts(calls), log: captureLogger().log });
    await agent.start();
    await agent.stop();
    await agent.stop();
    expect(calls).toEqual(['start outbox', 'start link', 'start health', 'start source', 'stop source', 'stop health', 'stop link', 'stop outbox']);
  });

  it('runs on without a non-essential part that failed to start, and does not stop it', async () => {
    const calls: string[] = [];
    const { log, lines } = captureLogger();
    const agent = new Agent({ parts: parts(calls, { health: 'start' }), log });
    await agent.start();
    await agent.stop();
    expect(calls).not.toContain('stop health');
    expect(calls).toContain('start source');
    expect(lines.find((l) => l['msg'] === 'part failed to start; running without it')).toMatchObject({ part: 'health' });
  });

  it('aborts the start when an essential part fails, stopping what had started', async () => {
    const calls: string[] = [];
    const agent = new Agent({ parts: parts(calls, { health: 'start' }, ['outbox', 'health']), log: captureLogger().log });
    await expect(agent.start()).rejects.toMatchObject({ message: 'health broke' });
    expect(calls).toEqual(['start outbox', 'start link', 'start health', 'stop link', 'stop outbox']);
  });

  it('keeps stopping past a part whose stop throws', async () => {
    const calls: string[] = [];
    const agent = new Agent({ parts: parts(calls, { link: 'stop' }), log: captureLogger().log });
    await agent.start();
    await agent.stop();
    expect(calls.slice(4)).toEqual(['stop source', 'stop health', 'stop link', 'stop outbox']);
  });
});

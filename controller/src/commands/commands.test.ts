import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PdmError, commandSchema, encodePayload, isPdmError, upTopic, type Command } from '@pdm/protocol';
import { connectDevice, onceWithin, type TestDevice } from '../testing/device-client.js';
import { startTestController, type TestController } from '../testing/harness.js';

let tc: TestController;
let devices: TestDevice[] = [];
beforeEach(async () => { tc = await startTestController(); });
afterEach(async () => {
  for (const d of devices) await d.end();
  devices = [];
  await tc.stop();
});

async function device(id: string, answer: boolean): Promise<TestDevice> {
  const d = await connectDevice(tc.mqttUrl, id, { withWill: false, answer });
  devices.push(d);
  return d;
}

async function rejection(p: Promise<unknown>): Promise<PdmError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(isPdmError(err)).toBe(true);
  return err as PdmError;
}

describe('Commands', () => {
  it('publishes a valid command with a fresh id and resolves with the matching reply', async () => {
    const d = await device('gw-c1', true);
    const [a, b] = await Promise.all([
      tc.app.commands.send('gw-c1', { type: 'ping' }),
      tc.app.commands.send('gw-c1', { type: 'report-state' }),
    ]);
    expect(a.status).toBe('ok');
    expect(d.commands).toHaveLength(2);
    for (const c of d.commands) expect(commandSchema.safeParse(c).success).toBe(true);
    const ids = d.commands.map((c) => c.id);
    expect(new Set(ids).size).toBe(2);
    expect([a.commandId, b.commandId].sort()).toEqual([...ids].sort());
    expect(tc.app.commands.pending).toBe(0);
  });

  it('resends with the same id when asked to (the device answers a repeat without acting twice)', async () => {
    const d = await device('gw-c2', true);
    await tc.app.commands.send('gw-c2', { type: 'ping' }, { id: 'ping-fixed-1' });
    await tc.app.commands.send('gw-c2', { type: 'ping' }, { id: 'ping-fixed-1' });
    expect(d.commands.map((c) => c.id)).toEqual(['ping-fixed-1', 'ping-fixed-1']);
  });

  it('rejects with the code of an error reply', async () => {
    const d = await device('gw-c3', false);
    d.client.on('message', (_t, bytes) => {
      const cmd = JSON.parse(bytes.toString()) as Command;
      const reply = { deviceId: 'gw-c3', commandId: cmd.id, time: new Date().toISOString(), status: 'error', error: { code: 'PAYLOAD_INVALID', message: 'cmd: nope' } };
      d.client.publishAsync(upTopic('gw-c3', 'reply'), Buffer.from(JSON.stringify(reply)), { qos: 1 }).catch(() => undefined);
    });
    const err = await rejection(tc.app.commands.send('gw-c3', { type: 'ping' }));
    expect(err.code).toBe('PAYLOAD_INVALID');
    expect(err.message).toBe('cmd: nope');
    expect(err.context).toMatchObject({ deviceId: 'gw-c3', remote: true });
  });

  it('times out with COMMAND_TIMEOUT; a reply from another device with the same id does not count', async () => {
    const d = await device('gw-c4', false);
    const other = await device('gw-c5', false);
    const sent = tc.app.commands.send('gw-c4', { type: 'ping' }, { timeoutMs: 300, id: 'ping-x' });
    await onceWithin(d.client, 'message', 2000);
    const forged = { deviceId: 'gw-c5', commandId: 'ping-x', time: new Date().toISOString(), status: 'ok' as const };
    await other.publishRaw(upTopic('gw-c5', 'reply'), encodePayload('reply', forged));
    const err = await rejection(sent);
    expect(err.code).toBe('COMMAND_TIMEOUT');
    expect(err.context).toMatchObject({ deviceId: 'gw-c4', commandId: 'ping-x', timeoutMs: 300 });
    expect(tc.app.commands.pending).toBe(0);
  });

  it('rejects what is pending when it stops', async () => {
    await device('gw-c6', false);
    const sent = tc.app.commands.send('gw-c6', { type: 'ping' });
    await tc.settle();
    await tc.app.commands.stop();
    expect((await rejection(sent)).code).toBe('LINK_FAILED');
  });

  it('refuses to build an invalid command or a topic for an invalid deviceId', async () => {
    await expect(tc.app.commands.send('bad id', { type: 'ping' })).rejects.toMatchObject({ code: 'TOPIC_INVALID' });
    await expect(tc.app.commands.send('gw-c7', { type: 'ping' }, { id: 'has space' })).rejects.toMatchObject({ code: 'PAYLOAD_INVALID' });
    expect(tc.app.commands.pending).toBe(0);
  });
});

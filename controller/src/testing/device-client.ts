/**
 * A real mqtt.js client acting as a device, for tests: connects with the device's last will, publishes
 * payloads (valid objects or raw bytes) with QoS 1 and answers commands when asked to.
 */
import { once } from 'node:events';
import { connectAsync, type MqttClient } from 'mqtt';
import { downTopic, encodePayload, upTopic, type Command, type PayloadOf, type UpKind } from '@pdm/protocol';
import { will } from './fixtures.js';

export interface TestDevice {
  client: MqttClient;
  publish<K extends UpKind>(kind: K, payload: PayloadOf<K>, retain?: boolean): Promise<void>;
  publishRaw(topic: string, bytes: Buffer | string): Promise<void>;
  /** Commands received on down/cmd. */
  commands: Command[];
  /** Kills the TCP connection without DISCONNECT, so the broker publishes the last will. */
  kill(): void;
  end(): Promise<void>;
}

export async function connectDevice(url: string, deviceId: string, opts: { withWill?: boolean; answer?: boolean } = {}): Promise<TestDevice> {
  const client = await connectAsync(url, {
    clientId: deviceId, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: 5000,
    ...(opts.withWill === false ? {} : {
      will: { topic: upTopic(deviceId, 'status'), payload: encodePayload('status', will(deviceId)), qos: 1, retain: true },
    }),
  });
  const commands: Command[] = [];
  await client.subscribeAsync(downTopic(deviceId, 'cmd'), { qos: 1 });
  client.on('message', (_topic, bytes) => {
    const command = JSON.parse(bytes.toString()) as Command;
    commands.push(command);
    if (opts.answer === true) {
      const reply = { deviceId, commandId: command.id, time: new Date().toISOString(), status: 'ok' as const, data: {} };
      // a reply still in flight when the test ends its device fails with "Connection closed": expected
      client.publishAsync(upTopic(deviceId, 'reply'), encodePayload('reply', reply), { qos: 1 }).catch(() => undefined);
    }
  });
  return {
    client,
    commands,
    publish: async (kind, payload, retain = kind === 'status') => {
      await client.publishAsync(upTopic(deviceId, kind), encodePayload(kind, payload), { qos: 1, retain });
    },
    publishRaw: async (topic, bytes) => {
      await client.publishAsync(topic, typeof bytes === 'string' ? Buffer.from(bytes) : bytes, { qos: 1 });
    },
    kill: () => client.stream.destroy(),
    end: async () => { await client.endAsync(true); },
  };
}

/**
 * Waits for an event with a deadline instead of sleeping. mqtt.js clients are EventEmitters at run time,
 * but their typed-emitter declarations do not name every EventEmitter method, hence the cast.
 */
export async function onceWithin(emitter: NodeJS.EventEmitter | MqttClient, event: string, ms: number): Promise<unknown[]> {
  return once(emitter as NodeJS.EventEmitter, event, { signal: AbortSignal.timeout(ms) });
}

/**
 * What an authenticated device may do on the embedded broker, as in the shipped Mosquitto ACL
 * (deploy/mosquitto/acl): publish only on its own `up/<kind>` topics, subscribe only to its own
 * `down/` topics. The protocol has no fleet broadcast topic, so there is nothing else to allow; no
 * `#`, no `+` in the device level, nothing outside `pdm/v1/`. Topics are read only through the
 * protocol's parser (protocol/src/topics.ts).
 */
import { deviceDownFilter, downKinds, topicFor, type ParsedTopic } from '@pdm/protocol';

/** Why a device's PUBLISH is refused, as a metric label. */
export type PublishRefusal = 'not-pdm-topic' | 'other-device' | 'downstream-topic';

/** `parsed`: parseTopic of the publish's topic, made once per message by the broker. */
export function publishRefusal(deviceId: string, parsed: ParsedTopic | undefined): PublishRefusal | undefined {
  if (parsed === undefined) return 'not-pdm-topic';
  if (parsed.deviceId !== deviceId) return 'other-device';
  if (parsed.direction !== 'up') return 'downstream-topic';
  return undefined;
}

/** The exact filters a device may subscribe to: its `down/+` filter or one of its `down/<kind>` topics. */
export function maySubscribe(deviceId: string, filter: string): boolean {
  if (filter === deviceDownFilter(deviceId)) return true;
  return downKinds.some((kind) => topicFor(deviceId, kind) === filter);
}

/**
 * The only place where pdm topic strings are built or parsed.
 *
 * Everything of one device lives under `pdm/v1/<deviceId>/`, so a per-device ACL is one pattern
 * (`pdm/v1/%c/#` in Mosquitto). `up/` is device -> controller, `down/` is controller -> device.
 */
import { PdmError } from './errors.js';

export const TOPIC_ROOT = 'pdm/v1';

/** deviceIds become topic levels: no MQTT wildcards, separators or control characters. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type Direction = 'up' | 'down';
export type QoS = 0 | 1 | 2;

export interface TopicSpec {
  readonly direction: Direction;
  readonly qos: QoS;
  readonly retain: boolean;
  /** Largest payload accepted on this topic, in bytes. */
  readonly maxBytes: number;
  readonly description: string;
}

const KiB = 1024;

export const topicSpecs = {
  status: {
    direction: 'up', qos: 1, retain: true, maxBytes: 16 * KiB,
    description: 'device state and heartbeat; the last will publishes state "offline" here',
  },
  predictions: { direction: 'up', qos: 1, retain: false, maxBytes: 256 * KiB, description: 'prediction batches' },
  alerts: { direction: 'up', qos: 1, retain: false, maxBytes: 16 * KiB, description: 'score passed the model threshold' },
  metrics: { direction: 'up', qos: 1, retain: false, maxBytes: 64 * KiB, description: 'metric windows' },
  events: { direction: 'up', qos: 1, retain: false, maxBytes: 16 * KiB, description: 'machine events' },
  deployment: { direction: 'up', qos: 1, retain: false, maxBytes: 16 * KiB, description: 'deployment status reports' },
  comparisons: { direction: 'up', qos: 1, retain: false, maxBytes: 64 * KiB, description: 'shadow comparison windows' },
  quality: { direction: 'up', qos: 1, retain: false, maxBytes: 64 * KiB, description: 'matured-prediction quality windows' },
  drift: { direction: 'up', qos: 1, retain: false, maxBytes: 64 * KiB, description: 'input and score drift windows' },
  reply: { direction: 'up', qos: 1, retain: false, maxBytes: 64 * KiB, description: 'replies to commands' },
  fetch: { direction: 'up', qos: 1, retain: false, maxBytes: 4 * KiB, description: 'artifact chunk requests' },
  cmd: { direction: 'down', qos: 1, retain: false, maxBytes: 128 * KiB, description: 'controller commands' },
  chunk: { direction: 'down', qos: 1, retain: false, maxBytes: 384 * KiB, description: 'artifact chunks' },
} as const satisfies Record<string, TopicSpec>;

export type TopicKind = keyof typeof topicSpecs;
export type UpKind = { [K in TopicKind]: (typeof topicSpecs)[K]['direction'] extends 'up' ? K : never }[TopicKind];
export type DownKind = Exclude<TopicKind, UpKind>;

export const upKinds = (Object.keys(topicSpecs) as TopicKind[]).filter(
  (k): k is UpKind => topicSpecs[k].direction === 'up',
);
export const downKinds = (Object.keys(topicSpecs) as TopicKind[]).filter(
  (k): k is DownKind => topicSpecs[k].direction === 'down',
);

export function isValidDeviceId(deviceId: string): boolean {
  return DEVICE_ID_PATTERN.test(deviceId);
}

function assertDeviceId(deviceId: string): void {
  if (!isValidDeviceId(deviceId)) {
    throw new PdmError('TOPIC_INVALID', 'deviceId is not a valid topic level', { context: { deviceId } });
  }
}

export function topicFor(deviceId: string, kind: TopicKind): string {
  assertDeviceId(deviceId);
  return `${TOPIC_ROOT}/${deviceId}/${topicSpecs[kind].direction}/${kind}`;
}

export const upTopic = (deviceId: string, kind: UpKind): string => topicFor(deviceId, kind);
export const downTopic = (deviceId: string, kind: DownKind): string => topicFor(deviceId, kind);

/** Subscription filter for one kind across all devices, for the controller. */
export function allDevicesFilter(kind: TopicKind): string {
  return `${TOPIC_ROOT}/+/${topicSpecs[kind].direction}/${kind}`;
}

/** Subscription filter for everything addressed to one device, for the agent. */
export function deviceDownFilter(deviceId: string): string {
  assertDeviceId(deviceId);
  return `${TOPIC_ROOT}/${deviceId}/down/+`;
}

/** The pattern a per-device ACL needs: everything under the device's own prefix. */
export function devicePrefixFilter(deviceId: string): string {
  assertDeviceId(deviceId);
  return `${TOPIC_ROOT}/${deviceId}/#`;
}

export interface ParsedTopic {
  readonly deviceId: string;
  readonly direction: Direction;
  readonly kind: TopicKind;
  readonly spec: TopicSpec;
}

/** Parses a pdm topic; returns undefined for anything that is not exactly one. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split('/');
  if (parts.length !== 5) return undefined;
  const [root, version, deviceId, direction, kind] = parts as [string, string, string, string, string];
  if (`${root}/${version}` !== TOPIC_ROOT || !isValidDeviceId(deviceId)) return undefined;
  if (!Object.hasOwn(topicSpecs, kind)) return undefined;
  const spec: TopicSpec = topicSpecs[kind as TopicKind];
  if (spec.direction !== direction) return undefined;
  return { deviceId, direction: spec.direction, kind: kind as TopicKind, spec };
}

/**
 * True when a topic matches `allDevicesFilter` of an upstream kind, `pdm/v1/+/up/<kind>`: `+` matches
 * any device level, also one that is no valid deviceId, which parseTopic refuses. For a consumer that
 * takes what such a subscription would get (the embedded broker's hook) and refuses it itself.
 */
export function matchesUpstreamFilter(topic: string): boolean {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT || parts[3] !== 'up') return false;
  const kind = parts[4]!;
  return Object.hasOwn(topicSpecs, kind) && topicSpecs[kind as TopicKind].direction === 'up';
}

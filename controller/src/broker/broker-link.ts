/**
 * How the controller talks to an MQTT broker, embedded or external: one interface, so ingest,
 * commands and reconciliation never know which broker runs.
 */
import type { ParsedTopic, QoS } from '@pdm/protocol';

export interface LinkMessage {
  topic: string;
  /**
   * parseTopic(topic), made once by whoever received the message (the link, or the embedded broker
   * before its ACL), so ingest and metrics do not parse it again; undefined: not a pdm topic.
   */
  parsed: ParsedTopic | undefined;
  payload: Buffer;
  /** True for a retained message replayed on subscribe: old state, not a sign of life. */
  retain: boolean;
}

/**
 * Handles one incoming message. Returning, or the returned promise resolving, acknowledges it (QoS 1
 * PUBACK goes out after that, so whatever the handler committed is durable first). Throwing or
 * rejecting means "not processed": no PUBACK, and the link reconnects so that the broker delivers it
 * again.
 */
export type MessageHandler = (message: LinkMessage) => void | Promise<void>;

export interface LinkTls {
  /** PEM CA certificate(s) to trust instead of the system ones. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

export interface LinkConnectOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** 4 (MQTT 3.1.1, the default: aedes) or 5 (external brokers: shared subscriptions, session expiry). */
  protocolVersion?: 4 | 5;
  /** MQTT 5 session expiry: how long the broker keeps the session and its queued messages while disconnected. */
  sessionExpirySec?: number;
  /** Subscribe to upstream topics as `$share/<group>/...`, so instances of one group split the traffic. */
  sharedGroup?: string;
  tls?: LinkTls;
}

/** Sees every message the link hands to its handler (metrics). */
export interface LinkObserver {
  handled(message: LinkMessage, seconds: number, ok: boolean): void;
}

export interface Health {
  ok: boolean;
  detail?: string;
}

export interface BrokerLink {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly connected: boolean;
  /** The one consumer of incoming messages (ingest). */
  setHandler(handler: MessageHandler): void;
  subscribe(filters: readonly string[], qos: QoS): Promise<void>;
  /** Resolves when the broker acknowledged the message (QoS 1/2) or it was written (QoS 0). */
  publish(topic: string, payload: Buffer, options: { qos: QoS; retain: boolean }): Promise<void>;
  /**
   * Resolves once every message the broker had queued for this link before the call has been
   * handled: a marker makes a round trip through the broker behind them.
   */
  flush(timeoutMs: number): Promise<void>;
  /**
   * Stops handing messages to the handler: from now on they are held unacknowledged, so the broker
   * keeps them in this link's session and delivers them again on the next start.
   */
  hold(): void;
  /**
   * Unsubscribes the shared subscriptions (if any), so the broker gives their traffic to the other
   * instances of the group instead of queueing it here; returns how many were left.
   */
  leaveSharedGroup(): Promise<number>;
  /** Called on every (re)connect; returns an unsubscribe function. */
  onConnect(listener: () => void): () => void;
  health(): Health;
}

/**
 * Commands to devices: publishes on down/cmd with a unique id and matches the device's answer on
 * up/reply by that id, with a timeout. Used by reconciliation now and by rollouts later.
 *
 * Only the promise of the caller waits here; nothing about a command's outcome is kept in memory
 * beyond it, so callers that need durability (rollouts) keep their own state and resend with the
 * same id, which the device answers without acting twice.
 */
import { randomUUID } from 'node:crypto';
import {
  PdmError, commandSchema, describeIssues, downTopic, encodePayload, type Command, type Reply,
} from '@pdm/protocol';
import type { BrokerLink } from '../broker/broker-link.js';
import { isoTime, type Clock } from '../clock.js';
import type { ReplySource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A command without its header: `{ type: 'report-state' }`. */
export type CommandBody = DistributiveOmit<Command, 'id' | 'time'>;
export type OkReply = Extract<Reply, { status: 'ok' }>;

export interface CommandsOptions {
  timeoutMs: number;
}

export interface SendOptions {
  timeoutMs?: number;
  /** Reuse an id to resend a command idempotently; a new one is made otherwise. */
  id?: string;
}

interface Pending {
  deviceId: string;
  resolve: (reply: OkReply) => void;
  reject: (err: PdmError) => void;
  timer: NodeJS.Timeout;
}

export class Commands {
  readonly #options: CommandsOptions;
  readonly #link: BrokerLink;
  readonly #replies: ReplySource;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #pending = new Map<string, Pending>();
  #offReply: (() => void) | undefined;

  constructor(options: CommandsOptions, link: BrokerLink, replies: ReplySource, clock: Clock, log: Logger) {
    this.#options = options;
    this.#link = link;
    this.#replies = replies;
    this.#clock = clock;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#offReply = this.#replies.onReply((reply) => this.#onReply(reply));
  }

  async stop(): Promise<void> {
    this.#offReply?.();
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new PdmError('LINK_FAILED', 'controller is stopping', { context: { commandId: id, deviceId: p.deviceId } }));
    }
    this.#pending.clear();
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Sends a command; resolves with the device's ok reply, rejects on an error reply or timeout. */
  async send(deviceId: string, body: CommandBody, options: SendOptions = {}): Promise<OkReply> {
    const parsed = commandSchema.safeParse({ ...body, id: options.id ?? `${body.type}-${randomUUID()}`, time: isoTime(this.#clock.now()) });
    if (!parsed.success) {
      throw new PdmError('PAYLOAD_INVALID', `cmd: ${describeIssues(parsed.error)}`, { context: { deviceId, type: body.type } });
    }
    const command = parsed.data;
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
    const topic = downTopic(deviceId, 'cmd');
    const answered = new Promise<OkReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(command.id);
        reject(new PdmError('COMMAND_TIMEOUT', 'device did not reply in time', {
          context: { deviceId, commandId: command.id, type: command.type, timeoutMs },
        }));
      }, timeoutMs);
      this.#pending.set(command.id, { deviceId, resolve, reject, timer });
    });
    // Not awaited: the caller must hold `answered` (and its rejection) from the start, while the
    // publish may wait for a reconnect.
    this.#link.publish(topic, encodePayload('cmd', command), { qos: 1, retain: false }).then(
      () => this.#log.debug({ deviceId, commandId: command.id, type: command.type }, 'command sent'),
      (cause: unknown) => this.#settle(command.id)?.reject(new PdmError('LINK_FAILED', 'command could not be published', {
        cause, context: { deviceId, commandId: command.id },
      })),
    );
    return answered;
  }

  #onReply(reply: Reply): void {
    const pending = this.#pending.get(reply.commandId);
    // A reply from another device than the one asked must not settle the command.
    if (pending === undefined || pending.deviceId !== reply.deviceId) {
      this.#log.debug({ deviceId: reply.deviceId, commandId: reply.commandId }, 'reply to no pending command');
      return;
    }
    this.#settle(reply.commandId);
    if (reply.status === 'ok') {
      pending.resolve(reply);
    } else {
      pending.reject(new PdmError(reply.error.code, reply.error.message, {
        context: { deviceId: reply.deviceId, commandId: reply.commandId, remote: true },
      }));
    }
  }

  #settle(id: string): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.#pending.delete(id);
    }
    return pending;
  }
}

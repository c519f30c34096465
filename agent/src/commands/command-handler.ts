/**
 * Controller commands on `down/cmd`, answered on `up/reply` with the protocol's envelope. Commands are
 * idempotent by id: the reply to each recent id is remembered, so a repeat (the controller retrying
 * after a lost reply) is answered again without acting twice. Invalid commands are counted and, when
 * they carry a usable id, answered with an error reply; nothing a controller sends can crash the agent.
 */
import type { Logger } from 'pino';
import {
  PdmError, decodePayload, isPdmError, topicSpecs, type Command, type Envelope, type PdmErrorCode, type Reply,
} from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Counters } from '../metrics/counters.js';

export interface CommandLink {
  onMessage(kind: 'cmd', listener: (payload: Buffer) => void): () => void;
  publishPayload(kind: 'reply', payload: Reply): Promise<void>;
}

export interface CommandActions {
  /** Republish the device status now. */
  reportState(): Promise<void>;
  /** Extra detail for the reply to report-state. */
  describe(): Record<string, unknown>;
  /** `deploy`: checks the signed manifest and queues it (updates/); throws MANIFEST_REJECTED with the reason. */
  deploy?(commandId: string, envelope: Envelope): Promise<Record<string, unknown>>;
  /** `trust-keys`: replaces the trusted keys with a key set signed by them; throws MANIFEST_REJECTED. */
  trustKeys?(envelope: Envelope): Promise<Record<string, unknown>>;
  /** `machine-event`: ground truth from the controller, recorded once per eventId (quality/ground-truth.ts). */
  machineEvent?(event: Extract<Command, { type: 'machine-event' }>['event']): Record<string, unknown>;
}

export interface CommandHandlerDeps {
  readonly deviceId: string;
  readonly link: CommandLink;
  readonly actions: CommandActions;
  readonly counters: Counters;
  readonly clock: Clock;
  readonly log: Logger;
  /** How many command ids to remember. */
  readonly memory?: number;
}

const COMMAND_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export class CommandHandler {
  /** Reply (or the promise of it, while the command runs) per recent command id, oldest first. */
  private readonly recent = new Map<string, Promise<Reply>>();
  private off: (() => void) | undefined;

  constructor(private readonly deps: CommandHandlerDeps) {}

  start(): void {
    this.off = this.deps.link.onMessage('cmd', (payload) => void this.handle(payload));
  }

  stop(): void {
    this.off?.();
    this.off = undefined;
  }

  /** Handles one raw payload; resolves once the reply has been published (or failed to be). */
  async handle(payload: Buffer): Promise<void> {
    let command: Command;
    try {
      command = decodePayload('cmd', payload);
    } catch (err) {
      await this.rejectInvalid(payload, err);
      return;
    }
    let reply = this.recent.get(command.id);
    if (reply === undefined) {
      reply = this.execute(command);
      this.remember(command.id, reply);
    } else {
      this.deps.log.info({ commandId: command.id, type: command.type }, 'repeated command answered from memory');
    }
    await this.publish(await reply);
  }

  private async execute(command: Command): Promise<Reply> {
    const { deviceId, actions, clock, log } = this.deps;
    log.info({ commandId: command.id, type: command.type }, 'command received');
    const base = { deviceId, commandId: command.id, time: new Date(clock.now()).toISOString() };
    try {
      switch (command.type) {
        case 'ping':
          return { ...base, status: 'ok', data: { time: base.time } };
        case 'report-state':
          await actions.reportState();
          return { ...base, status: 'ok', data: actions.describe() };
        case 'deploy':
          if (actions.deploy === undefined) throw unsupported(command.type);
          return { ...base, status: 'ok', data: await actions.deploy(command.id, command.envelope) };
        case 'trust-keys':
          if (actions.trustKeys === undefined) throw unsupported(command.type);
          return { ...base, status: 'ok', data: await actions.trustKeys(command.envelope) };
        case 'machine-event':
          if (actions.machineEvent === undefined) throw unsupported(command.type);
          return { ...base, status: 'ok', data: actions.machineEvent(command.event) };
      }
    } catch (err) {
      log.error({ err, commandId: command.id }, 'command failed');
      const code: PdmErrorCode = isPdmError(err) ? err.code : 'INTERNAL';
      return { ...base, status: 'error', error: { code, message: String((err as Error).message).slice(0, 512) } };
    }
  }

  private async rejectInvalid(payload: Buffer, err: unknown): Promise<void> {
    const { counters, log, deviceId, clock } = this.deps;
    counters.invalidCommands++;
    const error = isPdmError(err) ? err : new PdmError('INTERNAL', 'command decoding failed', { cause: err });
    log.warn({ code: error.code, reason: error.message.slice(0, 200) }, 'invalid command');
    const commandId = idOf(payload);
    if (commandId === undefined) return;
    await this.publish({
      deviceId,
      commandId,
      time: new Date(clock.now()).toISOString(),
      status: 'error',
      error: { code: error.code, message: error.message.slice(0, 512) },
    });
  }

  private remember(id: string, reply: Promise<Reply>): void {
    this.recent.set(id, reply);
    const max = this.deps.memory ?? 256;
    while (this.recent.size > max) this.recent.delete(this.recent.keys().next().value!);
  }

  private async publish(reply: Reply): Promise<void> {
    try {
      await this.deps.link.publishPayload('reply', reply);
    } catch (err) {
      // the controller retries with the same id and gets this reply from memory
      this.deps.log.warn({ err, commandId: reply.commandId }, 'reply not published');
    }
  }
}

function unsupported(type: string): PdmError {
  return new PdmError('COMMAND_UNSUPPORTED', `this agent does not handle ${type} commands`);
}

/** The id of an invalid command, when it has a usable one; never parses an oversized payload. */
function idOf(payload: Buffer): string | undefined {
  if (payload.byteLength > topicSpecs.cmd.maxBytes) return undefined;
  try {
    const json: unknown = JSON.parse(payload.toString('utf8'));
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
    const id = (json as { id?: unknown }).id;
    return typeof id === 'string' && COMMAND_ID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

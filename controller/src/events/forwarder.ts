/**
 * Delivers entered events to the asset's device as `machine-event` commands, until the device answers.
 * Correctness never depends on the broker's queues: a delivery stays pending in the database, is sent
 * when it is stored, again whenever the asset's device reports itself online (it reconnected), and on
 * a timer. The command id is fixed per delivery, so a device that already recorded it answers from its
 * memory or its list of recorded event ids instead of recording it twice.
 */
import type { Status } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { CommandBody, OkReply, SendOptions } from '../commands/commands.js';
import type { StatusSource } from '../ingest/ingest.js';
import type { Logger } from '../logger.js';
import type { Delivery, EventsRepo } from './events-repo.js';

export interface EventForwarderDeps {
  repo: () => EventsRepo;
  commands: { send(deviceId: string, body: CommandBody, options?: SendOptions): Promise<OkReply> };
  statuses: StatusSource;
  clock: Clock;
  log: Logger;
  /** Pending deliveries to online devices are retried this often. */
  retryMs: number;
}

export class EventForwarder {
  readonly #deps: EventForwarderDeps;
  readonly #inFlight = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #off: (() => void) | undefined;
  #running = false;

  constructor(deps: EventForwarderDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    this.#running = true;
    this.#off = this.#deps.statuses.onStatus((s: Status) => { if (s.state === 'online') this.kick(s.assetId); });
    this.#timer = setInterval(() => this.kickAll(), this.#deps.retryMs);
    this.#timer.unref();
    this.kickAll();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#off?.();
    clearInterval(this.#timer);
  }

  /** Sends the asset's pending deliveries now (in the background). */
  kick(assetId: string): void {
    if (this.#running) void this.deliver(this.#deps.repo().pending(assetId));
  }

  kickAll(): void {
    if (this.#running) void this.deliver(this.#deps.repo().pending());
  }

  /** Sends each delivery to its asset's online device; resolves when all have been answered or failed. */
  async deliver(deliveries: readonly Delivery[]): Promise<void> {
    await Promise.all(deliveries.map((d) => this.#send(d)));
  }

  async #send(d: Delivery): Promise<void> {
    const { repo, commands, clock, log } = this.#deps;
    if (this.#inFlight.has(d.commandId)) return;
    const device = repo().deviceFor(d.assetId);
    // offline: wait for its online status instead of spending a command timeout
    if (device === undefined || device.state !== 'online') return;
    const event = repo().get(d.eventId);
    if (event === undefined) return;
    this.#inFlight.add(d.commandId);
    try {
      await commands.send(device.deviceId, {
        type: 'machine-event',
        event: {
          eventId: d.type === 'downtime-end' ? `${d.eventId}:end` : d.eventId,
          assetId: d.assetId, type: d.type, at: d.at, source: event.source,
          ...(event.component === null ? {} : { component: event.component }),
          ...(d.type === 'downtime-start' && event.cause !== null ? { cause: event.cause } : {}),
          ...(event.note === null ? {} : { note: event.note }),
        },
      }, { id: d.commandId });
      if (!this.#running) return;
      repo().delivered(d.commandId, device.deviceId, clock.now());
      log.info({ eventId: d.eventId, commandId: d.commandId, deviceId: device.deviceId }, 'machine event delivered');
    } catch (err) {
      if (!this.#running) return;
      repo().failed(d.commandId, clock.now(), (err as Error).message);
      log.warn({ err, eventId: d.eventId, deviceId: device.deviceId }, 'machine event not delivered; will retry');
    } finally {
      this.#inFlight.delete(d.commandId);
    }
  }
}

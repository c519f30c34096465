/**
 * Entering machine events: every check runs before anything is written, and a request's events are
 * stored in one transaction with their audit entry, so a refused request stores nothing. Refusals are
 * 400 REQUEST_INVALID naming the field (`body.end`, `body.events.2.start`), like schema errors.
 * Stored events are handed to the forwarder, which delivers them to the asset's device.
 */
import { randomUUID } from 'node:crypto';
import { PdmError } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import { type Db, writeTransaction } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { Delivery, EventView, EventsRepo, StoredEvent } from './events-repo.js';
import { span, type EventInput } from './schema.js';

/** What the service needs of the audit log (audit/audit-log.ts). */
export interface AuditSink {
  record(entry: { actor: { name: string; role: string | null }; action: string; target: { type: string; id: string }; detail?: Record<string, unknown> }): unknown;
}

export interface DeliveryKick {
  kick(assetId: string): void;
}

export interface EventsServiceDeps {
  db: () => Db;
  repo: () => EventsRepo;
  audit?: (() => AuditSink | undefined) | undefined;
  forwarder?: DeliveryKick | undefined;
  clock: Clock;
  log: Logger;
}

interface Issue {
  field: string;
  message: string;
}

type Normalised = EventInput & { startIso: string; endIso: string | undefined };

const isoOf = (t: string): string => new Date(t).toISOString();

export class EventsService {
  readonly #deps: EventsServiceDeps;

  constructor(deps: EventsServiceDeps) {
    this.#deps = deps;
  }

  /**
   * Validates and stores events; `prefix` is the field path of each event in the request
   * (`body` for one, `body.events.<i>` for a batch). Throws REQUEST_INVALID listing every problem.
   */
  add(events: readonly EventInput[], prefix: (i: number) => string, actor: { name: string; role: string | null }): EventView[] {
    const repo = this.#deps.repo();
    const normalised: Normalised[] = events.map((e) => {
      const { start, end } = span(e);
      return { ...e, startIso: isoOf(start), endIso: end === undefined ? undefined : isoOf(end) };
    });
    const issues = normalised.flatMap((e, i) => this.#check(repo, e, prefix(i), normalised.slice(0, i)));
    if (issues.length > 0) {
      throw new PdmError('REQUEST_INVALID', issues.map((i) => `${i.field}: ${i.message}`).join('; ').slice(0, 2000), {
        context: { issues: issues.slice(0, 50) },
      });
    }
    const now = this.#deps.clock.now();
    const stored = normalised.map((e) => toStored(e, actor.name, now));
    const db = this.#deps.db();
    writeTransaction(db, () => {
      stored.forEach((s) => repo.insert(s, deliveriesOf(s)));
      this.#deps.audit?.()?.record({
        actor, action: 'event.record', target: { type: 'asset', id: [...new Set(stored.map((s) => s.assetId))].join(',').slice(0, 256) },
        detail: { events: stored.map((s) => ({ eventId: s.eventId, type: s.type, start: s.start, end: s.end })) },
      });
    })();
    this.#deps.log.info({ events: stored.length, by: actor.name }, 'machine events recorded');
    for (const assetId of new Set(stored.map((s) => s.assetId))) this.#deps.forwarder?.kick(assetId);
    return stored.map((s) => repo.get(s.eventId)!);
  }

  #check(repo: EventsRepo, e: Normalised, at: string, earlier: readonly Normalised[]): Issue[] {
    const issues: Issue[] = [];
    const startField = e.type === 'downtime' ? 'start' : 'at';
    if (!repo.assetKnown(e.assetId)) issues.push({ field: `${at}.assetId`, message: `unknown asset "${e.assetId}": no device reports it` });
    if (e.endIso !== undefined && e.endIso <= e.startIso) {
      issues.push({ field: `${at}.end`, message: `end (${e.endIso}) must be after ${startField} (${e.startIso})` });
      return issues;
    }
    if (e.endIso !== undefined) {
      const clash = repo.overlapping(e.assetId, e.startIso, e.endIso)[0];
      if (clash !== undefined) {
        issues.push({ field: `${at}.${startField}`, message: `[${e.startIso}, ${e.endIso}) overlaps ${clash.type} ${clash.eventId} [${clash.start}, ${clash.end})` });
      }
      const j = earlier.findIndex((o) => o.assetId === e.assetId && o.endIso !== undefined && o.startIso < e.endIso! && o.endIso > e.startIso);
      if (j >= 0) issues.push({ field: `${at}.${startField}`, message: `overlaps event ${j} of this request on the same asset` });
    }
    const same = repo.duplicate(e, e.startIso);
    if (same !== undefined) issues.push({ field: `${at}.${startField}`, message: `duplicate of ${same.eventId} (same asset, type, time and component)` });
    return issues;
  }
}

function toStored(e: Normalised, by: string, now: number): StoredEvent {
  return {
    eventId: `evt-${randomUUID()}`, assetId: e.assetId, type: e.type, start: e.startIso, end: e.endIso ?? null,
    cause: e.type === 'downtime' ? e.cause : null, component: e.component ?? null, source: e.source, note: e.note ?? null,
    enteredAt: new Date(now).toISOString(), enteredBy: by,
  };
}

/** The machine events the device records: one for a failure or maintenance, start and end for downtime. */
export function deliveriesOf(s: StoredEvent): Pick<Delivery, 'commandId' | 'type' | 'at'>[] {
  if (s.type !== 'downtime') return [{ commandId: `me-${s.eventId}`, type: s.type, at: s.start }];
  return [
    { commandId: `me-${s.eventId}`, type: 'downtime-start', at: s.start },
    { commandId: `me-${s.eventId}-end`, type: 'downtime-end', at: s.end! },
  ];
}

/** SQL of entered events and their delivery to devices (migration 004). */
import type { Db } from '../db/database.js';
import type { EventInput, EventsQuery } from './schema.js';

export interface StoredEvent {
  eventId: string;
  assetId: string;
  type: 'failure' | 'maintenance' | 'downtime';
  start: string;
  end: string | null;
  cause: 'unplanned' | 'planned' | 'other' | null;
  component: string | null;
  source: 'operator' | 'cmms';
  note: string | null;
  enteredAt: string;
  enteredBy: string;
}

export interface Delivery {
  commandId: string;
  eventId: string;
  type: 'failure' | 'maintenance' | 'downtime-start' | 'downtime-end';
  at: string;
  assetId: string;
  deviceId: string | null;
  deliveredAt: string | null;
  attempts: number;
  lastError: string | null;
}

export interface EventView extends StoredEvent {
  deliveries: Delivery[];
}

type Row = Record<string, unknown>;
const iso = (ms: unknown): string | null => (typeof ms === 'number' ? new Date(ms).toISOString() : null);

export class EventsRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** True when a device has reported this asset. */
  assetKnown(assetId: string): boolean {
    return this.#db.prepare('SELECT EXISTS (SELECT 1 FROM devices WHERE asset_id = ?)').pluck().get(assetId) === 1;
  }

  /** The device watching the asset: the one seen most recently. */
  deviceFor(assetId: string): { deviceId: string; state: string } | undefined {
    return this.#db.prepare(`SELECT device_id AS deviceId, state FROM devices WHERE asset_id = ?
      ORDER BY (state = 'online') DESC, COALESCE(last_seen_at, 0) DESC LIMIT 1`).get(assetId) as { deviceId: string; state: string } | undefined;
  }

  /** Stored events of the asset whose interval [start, end) overlaps [start, end). */
  overlapping(assetId: string, start: string, end: string): StoredEvent[] {
    const rows = this.#db.prepare(`SELECT * FROM machine_events_entered WHERE asset_id = ? AND end_at IS NOT NULL
      AND start_at < ? AND end_at > ? ORDER BY start_at`).all(assetId, end, start) as Row[];
    return rows.map(toEvent);
  }

  /** A stored event of the same asset, type, time and component. */
  duplicate(e: EventInput, start: string): StoredEvent | undefined {
    const row = this.#db.prepare(`SELECT * FROM machine_events_entered WHERE asset_id = ? AND type = ? AND start_at = ?
      AND COALESCE(component, '') = ?`).get(e.assetId, e.type, start, e.component ?? '') as Row | undefined;
    return row === undefined ? undefined : toEvent(row);
  }

  insert(event: StoredEvent, deliveries: readonly Pick<Delivery, 'commandId' | 'type' | 'at'>[]): void {
    this.#db.prepare(`INSERT INTO machine_events_entered (event_id, asset_id, type, start_at, end_at, cause, component, source, note,
      entered_at, entered_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      event.eventId, event.assetId, event.type, event.start, event.end, event.cause, event.component, event.source, event.note,
      Date.parse(event.enteredAt), event.enteredBy);
    const add = this.#db.prepare('INSERT INTO event_deliveries (command_id, event_id, type, at, asset_id) VALUES (?, ?, ?, ?, ?)');
    for (const d of deliveries) add.run(d.commandId, event.eventId, d.type, d.at, event.assetId);
  }

  list(q: Partial<EventsQuery> = {}): EventView[] {
    const rows = this.#db.prepare(`SELECT * FROM machine_events_entered WHERE ($asset IS NULL OR asset_id = $asset)
      AND ($from IS NULL OR start_at >= $from) AND ($to IS NULL OR start_at < $to) ORDER BY start_at, event_id LIMIT $limit`)
      .all({ asset: q.assetId ?? null, from: q.from ?? null, to: q.to ?? null, limit: q.limit ?? 500 }) as Row[];
    const deliveries = this.#deliveriesOf(rows.map((r) => r.event_id as string));
    return rows.map((r) => ({ ...toEvent(r), deliveries: deliveries.get(r.event_id as string) ?? [] }));
  }

  get(eventId: string): EventView | undefined {
    const row = this.#db.prepare('SELECT * FROM machine_events_entered WHERE event_id = ?').get(eventId) as Row | undefined;
    if (row === undefined) return undefined;
    return { ...toEvent(row), deliveries: this.#deliveriesOf([eventId]).get(eventId) ?? [] };
  }

  /** Deliveries not yet acknowledged by a device, oldest event first. */
  pending(assetId?: string): Delivery[] {
    const rows = this.#db.prepare(`SELECT * FROM event_deliveries WHERE delivered_at IS NULL AND ($asset IS NULL OR asset_id = $asset)
      ORDER BY at, command_id`).all({ asset: assetId ?? null }) as Row[];
    return rows.map(toDelivery);
  }

  delivered(commandId: string, deviceId: string, at: number): void {
    this.#db.prepare(`UPDATE event_deliveries SET device_id = ?, delivered_at = ?, attempts = attempts + 1, last_attempt_at = ?,
      last_error = NULL WHERE command_id = ?`).run(deviceId, at, at, commandId);
  }

  failed(commandId: string, at: number, error: string): void {
    this.#db.prepare('UPDATE event_deliveries SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? WHERE command_id = ?')
      .run(at, error.slice(0, 300), commandId);
  }

  #deliveriesOf(eventIds: readonly string[]): Map<string, Delivery[]> {
    const out = new Map<string, Delivery[]>();
    if (eventIds.length === 0) return out;
    const rows = this.#db.prepare(`SELECT * FROM event_deliveries WHERE event_id IN (SELECT value FROM json_each(?)) ORDER BY at, command_id`)
      .all(JSON.stringify(eventIds)) as Row[];
    for (const r of rows) out.set(r.event_id as string, [...(out.get(r.event_id as string) ?? []), toDelivery(r)]);
    return out;
  }
}

function toEvent(r: Row): StoredEvent {
  return {
    eventId: r.event_id as string, assetId: r.asset_id as string, type: r.type as StoredEvent['type'], start: r.start_at as string,
    end: r.end_at as string | null, cause: r.cause as StoredEvent['cause'], component: r.component as string | null,
    source: r.source as StoredEvent['source'], note: r.note as string | null, enteredAt: iso(r.entered_at)!, enteredBy: r.entered_by as string,
  };
}

function toDelivery(r: Row): Delivery {
  return {
    commandId: r.command_id as string, eventId: r.event_id as string, type: r.type as Delivery['type'], at: r.at as string,
    assetId: r.asset_id as string, deviceId: r.device_id as string | null, deliveredAt: iso(r.delivered_at),
    attempts: r.attempts as number, lastError: r.last_error as string | null,
  };
}

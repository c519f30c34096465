/**
 * Retained messages looked up by device instead of scanned. aedes' in-memory persistence answers every
 * SUBSCRIBE by testing the filter against every retained message; every device keeps a retained status,
 * and every device subscribes to its own `down/` topics when it connects, so a fleet start costs
 * O(devices^2) and, at 10,000 devices, held the event loop long enough for keepalives to expire
 * (bench/RESULTS.md, "Fleet"). Here retained messages are kept per `pdm/v1/<deviceId>` (the first
 * three topic levels): a filter whose first three levels are literal reads only its device's messages;
 * any other filter (the controller's `pdm/v1/+/up/#`) still reads them all.
 *
 * It wraps the broker's own persistence object (installed once, before any client connects), which
 * keeps storing the retained messages as before; only the two lookups are answered from the index.
 */
import { Readable } from 'node:stream';

/** What aedes hands the persistence and reads back: a packet with its topic and payload. */
export interface RetainedPacket {
  topic: string;
  payload: Buffer | string;
}

/** The part of an aedes persistence object this wraps. */
export interface RetainedPersistence {
  storeRetained(packet: RetainedPacket, cb?: (err?: Error | null) => void): unknown;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

const INDEXED_LEVELS = 3;

export class RetainedIndex {
  readonly #byPrefix = new Map<string, Map<string, RetainedPacket>>();

  get size(): number {
    let n = 0;
    for (const bucket of this.#byPrefix.values()) n += bucket.size;
    return n;
  }

  store(packet: RetainedPacket): void {
    const key = prefixOf(packet.topic.split('/'));
    if (packet.payload.length === 0) {
      const bucket = this.#byPrefix.get(key);
      bucket?.delete(packet.topic);
      if (bucket?.size === 0) this.#byPrefix.delete(key);
      return;
    }
    let bucket = this.#byPrefix.get(key);
    if (bucket === undefined) this.#byPrefix.set(key, (bucket = new Map()));
    bucket.set(packet.topic, { ...packet });
  }

  /** Every retained message matching any of the filters, once each. */
  *match(filters: readonly string[]): Generator<RetainedPacket> {
    const seen = new Set<string>();
    for (const filter of filters) {
      const levels = filter.split('/');
      const literal = levels.slice(0, INDEXED_LEVELS).every((l) => l !== '+' && l !== '#') && levels.length >= INDEXED_LEVELS;
      const buckets = literal ? [this.#byPrefix.get(prefixOf(levels))] : [...this.#byPrefix.values()];
      for (const bucket of buckets) {
        if (bucket === undefined) continue;
        for (const [topic, packet] of bucket) {
          if (seen.has(topic) || !topicMatches(levels, topic.split('/'))) continue;
          seen.add(topic);
          yield packet;
        }
      }
    }
  }

  /** Makes `persistence` keep this index and answer retained lookups from it. */
  install(persistence: RetainedPersistence): void {
    const store = persistence.storeRetained.bind(persistence);
    persistence.storeRetained = (packet, cb) => {
      this.store(packet);
      return store(packet, cb);
    };
    persistence.createRetainedStream = (pattern) => Readable.from(this.match([pattern]));
    persistence.createRetainedStreamCombi = (patterns) => Readable.from(this.match(patterns));
  }
}

function prefixOf(levels: readonly string[]): string {
  return levels.slice(0, INDEXED_LEVELS).join('/');
}

/**
 * MQTT 3.1.1 section 4.7: `+` matches one level, `#` (last) the parent and any number of levels; a
 * filter starting with a wildcard does not match topics starting with `$`.
 */
export function topicMatches(filter: readonly string[], topic: readonly string[]): boolean {
  if ((filter[0] === '+' || filter[0] === '#') && topic[0]?.startsWith('$') === true) return false;
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i]!;
    if (f === '#') return true;
    if (i >= topic.length) return false;
    if (f !== '+' && f !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

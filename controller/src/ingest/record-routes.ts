/**
 * Which upstream topics are record topics, remembered per topic string. A device publishes on the
 * same few topics over and over, and parsing one (split, deviceId pattern, spec lookup) cost ~3% of
 * the embedded broker's thread under bench:ingest, against a map lookup (bench/RESULTS.md).
 */
import { recordTopic, type RecordTopic } from './record-batch.js';

/**
 * Topics remembered at most: a fleet's devices times the record kinds they send. Past it the table
 * starts again, so topics invented by a misbehaving client cannot grow it without end.
 */
const MAX_TOPICS = 50_000;

export class RecordRoutes {
  /** null: not a record topic. */
  readonly #known = new Map<string, RecordTopic | null>();

  /** The device and kind of a record topic; undefined for any other topic (protocol/src/topics.ts decides). */
  of(topic: string): RecordTopic | undefined {
    let route = this.#known.get(topic);
    if (route === undefined) {
      route = recordTopic(topic) ?? null;
      if (this.#known.size >= MAX_TOPICS) this.#known.clear();
      this.#known.set(topic, route);
    }
    return route ?? undefined;
  }
}

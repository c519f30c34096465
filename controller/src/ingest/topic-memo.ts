/**
 * protocol's parseTopic, remembered per topic string. A device publishes on the same few topics over
 * and over; on a topic string made fresh per message (as the MQTT parser makes it) a parse cost
 * 0.8 us and a hit here 0.25 us at load 2.7, about twice both at load 5 (bench/topic-parse.ts,
 * bench/RESULTS.md ingest notes). What a topic means is still decided by protocol/src/topics.ts alone.
 */
import { parseTopic, upKinds, type ParsedTopic } from '@pdm/protocol';

/**
 * Topics remembered by default: a fleet of 10,000 devices (the embedded broker's default connection
 * limit) each sending on every upstream kind, so a whole fleet's topics stay remembered.
 */
export const FLEET_TOPICS = 10_000 * upKinds.length;

export class TopicMemo {
  readonly #capacity: number;
  readonly #known = new Map<string, ParsedTopic>();
  /**
   * The oldest remembered topic next. A Map iterator is live (it also visits what was added after it
   * was made) and keeps its place, so evicting through it does not scan again over deleted entries.
   */
  #oldest: Iterator<string> | undefined;

  constructor(capacity = FLEET_TOPICS) {
    this.#capacity = capacity;
  }

  /** Topics remembered now: never more than the capacity. */
  get size(): number {
    return this.#known.size;
  }

  /**
   * parseTopic(topic), the same object each time it is asked again while remembered. Only pdm topics
   * are remembered (no junk a client invents can take their place); past the capacity the topic
   * remembered longest ago is forgotten, one per new topic, never the whole table at once.
   */
  of(topic: string): ParsedTopic | undefined {
    const known = this.#known.get(topic);
    if (known !== undefined) return known;
    const parsed = parseTopic(topic);
    if (parsed === undefined) return undefined;
    if (this.#known.size >= this.#capacity) this.#forgetOldest();
    this.#known.set(topic, parsed);
    return parsed;
  }

  #forgetOldest(): void {
    let next = this.#oldest?.next();
    if (next === undefined || next.done === true) {
      // a finished iterator stays finished: start one over the entries there are now
      this.#oldest = this.#known.keys();
      next = this.#oldest.next();
    }
    if (next.done !== true) this.#known.delete(next.value);
  }
}

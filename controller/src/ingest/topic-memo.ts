/**
 * protocol's parseTopic, remembered per topic string. A device publishes on the same few topics over
 * and over, and parsing one (split, deviceId pattern, spec lookup) cost ~3% of the embedded broker's
 * thread and ~3% of the record worker's under bench:ingest, against a map lookup (bench/RESULTS.md).
 * What a topic means is still decided by protocol/src/topics.ts alone.
 */
import { parseTopic, type ParsedTopic } from '@pdm/protocol';

/**
 * Topics remembered at most: a fleet's devices times the kinds they send. Past it the table starts
 * again, so topics invented by a misbehaving client cannot grow it without end.
 */
const MAX_TOPICS = 50_000;
/**
 * Longer than any pdm topic (`pdm/v1/` + a 64-character deviceId + `/up/` + a kind is at most 86 characters):
 * such a topic is parsed (and refused) each time, never remembered, so the table stays a few MB.
 */
const MAX_TOPIC_LENGTH = 128;

export class TopicMemo {
  /** null: not a pdm topic. */
  readonly #known = new Map<string, ParsedTopic | null>();

  /** parseTopic(topic), the same object each time it is asked again. */
  of(topic: string): ParsedTopic | undefined {
    if (topic.length > MAX_TOPIC_LENGTH) return parseTopic(topic);
    let parsed = this.#known.get(topic);
    if (parsed === undefined) {
      parsed = parseTopic(topic) ?? null;
      if (this.#known.size >= MAX_TOPICS) this.#known.clear();
      this.#known.set(topic, parsed);
    }
    return parsed ?? undefined;
  }
}

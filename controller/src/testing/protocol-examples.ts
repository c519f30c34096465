/**
 * The payload examples of protocol/README.md (each is parsed by the protocol's own tests), one per
 * topic kind, so controller tests cover every kind the protocol declares, including ones added later.
 */
import { readFileSync } from 'node:fs';
import { parseTopic, type TopicKind } from '@pdm/protocol';

const README = new URL('../../../protocol/README.md', import.meta.url);

export function protocolExamples(): Map<TopicKind, Record<string, unknown>> {
  const text = readFileSync(README, 'utf8');
  const examples = new Map<TopicKind, Record<string, unknown>>();
  for (const m of text.matchAll(/```json topic=(\S+)\n([\s\S]*?)```/g)) {
    const kind = parseTopic(m[1]!)?.kind;
    if (kind !== undefined && !examples.has(kind)) examples.set(kind, JSON.parse(m[2]!) as Record<string, unknown>);
  }
  return examples;
}

/** A valid example of `kind` moved to another device (and seq, for records). */
export function exampleFor(kind: TopicKind, deviceId: string, seq?: number): Record<string, unknown> {
  const example = protocolExamples().get(kind);
  if (example === undefined) throw new Error(`protocol/README.md has no example for ${kind}`);
  return { ...example, ...('deviceId' in example ? { deviceId } : {}), ...(seq !== undefined && 'seq' in example ? { seq } : {}) };
}

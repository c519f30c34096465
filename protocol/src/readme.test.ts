import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodePayload } from './codec.js';
import { errorCatalogue, errorCodes } from './errors.js';
import { envelopeSchema, manifestSchema } from './manifest.js';
import { parseTopic, topicSpecs, type TopicKind } from './topics.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Every ```json topic=<topic> block of the README. */
const examples = [...readme.matchAll(/```json topic=(\S+)\n([\s\S]*?)```/g)].map((m) => ({ topic: m[1]!, body: m[2]! }));

describe('protocol/README.md', () => {
  it('has an example for every topic kind', () => {
    const kinds = new Set(examples.map((e) => parseTopic(e.topic)?.kind));
    for (const kind of Object.keys(topicSpecs)) expect(kinds, `no example for ${kind}`).toContain(kind);
  });

  it.each(examples.map((e, i) => [i, e.topic, e.body] as const))('example %i on %s parses', (_i, topic, body) => {
    const parsed = parseTopic(topic);
    expect(parsed, `not a pdm topic: ${topic}`).toBeDefined();
    const kind = parsed!.kind as TopicKind;
    expect(() => decodePayload(kind, Buffer.from(body), parsed!.deviceId)).not.toThrow();
  });

  it('lists every topic with its QoS and retain flag', () => {
    for (const [kind, spec] of Object.entries(topicSpecs)) {
      const row = new RegExp(`\\| \`pdm/v1/<deviceId>/${spec.direction}/${kind}\` \\| ${spec.direction} \\| ${spec.qos} \\| ${spec.retain ? 'yes' : 'no'} \\|`);
      expect(readme, `topic table row for ${kind}`).toMatch(row);
    }
  });

  it('has a manifest and an envelope example that parse', () => {
    const block = (tag: string) => readme.match(new RegExp('```json ' + tag + '\\n([\\s\\S]*?)```'))?.[1];
    expect(() => manifestSchema.parse(JSON.parse(block('manifest') ?? 'null'))).not.toThrow();
    expect(() => envelopeSchema.parse(JSON.parse(block('envelope') ?? 'null'))).not.toThrow();
  });

  it('documents every error code with its HTTP status', () => {
    for (const code of errorCodes) {
      expect(readme, `error code ${code}`).toMatch(new RegExp(`\\| \`${code}\` \\| ${errorCatalogue[code].http} \\|`));
    }
  });
});

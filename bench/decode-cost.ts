/**
 * What the record worker's decode step costs per message (controller/src/ingest/decode.ts decodeUpstream:
 * topic, size cap, UTF-8 JSON, schema, deviceId), in process, without MQTT or SQLite. Two workloads: the
 * bench:ingest mix (prediction batches of 4 and metric windows, 3:1) and prediction batches of 64 (what a
 * real agent sends at batch 64). For each, decodeUpstream against the full zod path (codec.ts decodePayload)
 * over the same messages, rounds alternating, CPU time per message (median of the rounds).
 *
 * Run it from a tree under test (it imports that tree's sources): `flock /tmp/pdm-bench.lock npx tsc -b &&
 * flock /tmp/pdm-bench.lock npx tsx bench/decode-cost.ts`. Env: PDM_DECODE_ROUNDS (9).
 */
import { cpuUsage } from 'node:process';
import { decodePayload, parseTopic, topicFor, encodePayload, type UpKind } from '@pdm/protocol';
import { decodeUpstream } from '../controller/src/ingest/decode.js';
import { ingestWorkload, predictionBatch, type Message } from './lib/records.js';
import { loadNow, median } from './results.js';

const ROUNDS = Number(process.env['PDM_DECODE_ROUNDS'] ?? 9);
const any = (): boolean => true;

function cpuUs(): number {
  const u = cpuUsage();
  return u.user + u.system;
}

/** CPU us per message of `decode` over all messages, after one warm-up pass. */
function perMessage(messages: readonly Message[], decode: (m: Message) => unknown): number {
  const start = cpuUs();
  for (const m of messages) decode(m);
  return (cpuUs() - start) / messages.length;
}

const viaDecodeUpstream = (m: Message): unknown => {
  const d = decodeUpstream(m.topic, parseTopic(m.topic), m.payload, any, 'not a record topic');
  if (!d.ok) throw d.error;
  return d.payload;
};
const viaZod = (m: Message): unknown => {
  const t = parseTopic(m.topic)!;
  return decodePayload(t.kind as UpKind, m.payload, t.deviceId);
};

function measure(name: string, messages: readonly Message[]): void {
  viaDecodeUpstream(messages[0]!);
  perMessage(messages, viaDecodeUpstream);
  perMessage(messages, viaZod);
  const fast: number[] = [];
  const zod: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      fast.push(perMessage(messages, viaDecodeUpstream));
      zod.push(perMessage(messages, viaZod));
    } else {
      zod.push(perMessage(messages, viaZod));
      fast.push(perMessage(messages, viaDecodeUpstream));
    }
  }
  const f = median(fast);
  const z = median(zod);
  console.log(JSON.stringify({
    workload: name, messages: messages.length, decodeUpstreamUs: +f.toFixed(2), zodPathUs: +z.toFixed(2), ratio: +(f / z).toFixed(2),
    decodeUpstreamRuns: fast.map((x) => +x.toFixed(2)), zodPathRuns: zod.map((x) => +x.toFixed(2)),
  }));
}

const at = Date.parse('2026-01-05T06:00:00.000Z');
const mix = ingestWorkload('dec', 20, 1000).flat();
const batches64 = Array.from({ length: 4000 }, (_, i): Message => {
  const deviceId = `dec64-${i % 20}`;
  return { topic: topicFor(deviceId, 'predictions'), payload: encodePayload('predictions', predictionBatch(deviceId, i + 1, at + i * 60_000, 64)) };
});
console.log(JSON.stringify({ start: new Date().toISOString(), load: loadNow(), node: process.version, rounds: ROUNDS }));
measure('mix (4-prediction batches : metric windows = 3:1)', mix);
measure('prediction batches of 64', batches64);
console.log(JSON.stringify({ end: new Date().toISOString(), load: loadNow() }));

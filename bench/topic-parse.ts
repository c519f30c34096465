/**
 * What parsing a topic costs per message, and what controller/src/ingest/topic-memo.ts saves:
 * `node --expose-gc --import tsx bench/topic-parse.ts` (prints only; bench/RESULTS.md's ingest notes cite it).
 *
 * - protocol's parseTopic on one topic string asked again and again, several shapes;
 * - on topic strings made fresh per message from bytes (as the MQTT parser makes them), for 10,000
 *   devices in turn: parseTopic against a TopicMemo hit;
 * - a TopicMemo past its capacity (200,000 topics in turn): every call a miss and an eviction;
 * - the heap a full TopicMemo holds (10,000 devices x every upstream kind), with --expose-gc.
 */
import { parseTopic, upKinds } from '@pdm/protocol';
import { TopicMemo } from '../controller/src/ingest/topic-memo.js';

const CALLS = 2_000_000;
let sink = 0;

/** Microseconds per call of `f` over inputs made by `input(i)`, after a warm-up. */
function perCall(input: (i: number) => string, f: (topic: string) => unknown): number {
  for (let i = 0; i < 200_000; i++) sink += f(input(i)) === undefined ? 0 : 1;
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) sink += f(input(i)) === undefined ? 0 : 1;
  return Number(process.hrtime.bigint() - start) / CALLS / 1000;
}

const shapes: Record<string, string> = {
  'pdm topic, 8-character deviceId': 'pdm/v1/gw-00001/up/predictions',
  'pdm topic, 64-character deviceId': `pdm/v1/${'a'.repeat(64)}/up/metrics`,
  'pdm status topic': 'pdm/v1/machine-12.line-3/up/status',
  'pdm downstream topic': 'pdm/v1/gw-00001/down/cmd',
  'not pdm: 3 levels': 'sensors/line3/temp',
  'not pdm: unknown kind': 'pdm/v1/gw-00001/up/bogus',
  'not pdm: 200 characters': 'x/'.repeat(100),
};
const rows: [string, number][] = [];
for (const [name, topic] of Object.entries(shapes)) rows.push([`parseTopic, same string: ${name}`, perCall(() => topic, parseTopic)]);

const fleet = Array.from({ length: 10_000 }, (_v, d) => Buffer.from(`pdm/v1/gw-${String(d).padStart(5, '0')}/up/predictions`));
const fresh = (i: number): string => fleet[i % fleet.length]!.toString();
const memo = new TopicMemo();
rows.push(['fresh string only (Buffer.toString)', perCall(fresh, (t) => t)]);
rows.push(['fresh string + parseTopic, 10,000 devices', perCall(fresh, parseTopic)]);
rows.push(['fresh string + TopicMemo hit, 10,000 devices', perCall(fresh, (t) => memo.of(t))]);
const many = Array.from({ length: 200_000 }, (_v, d) => `pdm/v1/gw-${d}/up/predictions`);
const evicting = new TopicMemo();
rows.push(['TopicMemo past capacity: miss + eviction each call', perCall((i) => many[i % many.length]!, (t) => evicting.of(t))]);

for (const [name, us] of rows) process.stdout.write(`${name.padEnd(56)} ${us.toFixed(3)} us/call\n`);
process.stdout.write(`full TopicMemo heap: ${fullMemoHeap()}\n`);
if (sink < 0) process.stdout.write('unreachable\n');

function fullMemoHeap(): string {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return '- (run with node --expose-gc)';
  gc();
  const before = process.memoryUsage().heapUsed;
  const full = new TopicMemo();
  for (let d = 0; d < 10_000; d++) for (const kind of upKinds) full.of(Buffer.from(`pdm/v1/gw-${String(d).padStart(5, '0')}/up/${kind}`).toString());
  gc();
  return `${((process.memoryUsage().heapUsed - before) / 2 ** 20).toFixed(1)} MiB for ${full.size} topics`;
}

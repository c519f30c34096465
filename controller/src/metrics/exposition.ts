/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests and tools that
 * check what /metrics serves: every sample must belong to a family declared by `# TYPE` before it,
 * label values must be quoted and escaped, values must be numbers.
 */
import { PdmError } from '@pdm/protocol';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedExposition {
  /** Family name -> type (counter, gauge, histogram, summary, untyped). */
  types: Map<string, string>;
  samples: Sample[];
  /** Sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const HELP_LINE = new RegExp(`^# HELP (${NAME}) .*$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

export function parseExposition(text: string): ParsedExposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  text.split('\n').forEach((line, i) => {
    if (line === '' || (line.startsWith('#') && !line.startsWith('# TYPE') && !line.startsWith('# HELP'))) return;
    const type = TYPE_LINE.exec(line);
    if (type !== null) { types.set(type[1]!, type[2]!); return; }
    if (HELP_LINE.test(line)) return;
    const m = SAMPLE_LINE.exec(line);
    if (m === null) throw bad(i, line, 'not a sample line');
    const name = m[1]!;
    const family = types.has(name) ? name : SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : '')).find((f) => types.has(f));
    if (family === undefined) throw bad(i, line, 'sample before its # TYPE line');
    const value = parseValue(m[3]!);
    if (value === undefined) throw bad(i, line, 'value is not a number');
    samples.push({ name, labels: parseLabels(m[2] ?? '', i, line), value });
  });
  const value = (name: string, labels: Record<string, string> = {}): number | undefined => {
    const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    return hits.length === 0 ? undefined : hits.reduce((n, s) => n + s.value, 0);
  };
  return { types, samples, value };
}

/** Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client prints "Nan"). */
function parseValue(text: string): number | undefined {
  if (/^nan$/i.test(text)) return NaN;
  if (/^[+-]?inf$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  const n = Number(text);
  return text.trim() === '' || Number.isNaN(n) ? undefined : n;
}

function parseLabels(text: string, i: number, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest !== '') {
    const m = LABEL.exec(rest);
    if (m === null) throw bad(i, line, 'malformed labels');
    labels[m[1]!] = m[2]!.replace(/\\(["\\n])/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(m[0].length);
  }
  return labels;
}

function bad(index: number, line: string, reason: string): PdmError {
  return new PdmError('PAYLOAD_INVALID', `metrics line ${index + 1}: ${reason}: ${line.slice(0, 120)}`, { context: { line: line.slice(0, 200) } });
}

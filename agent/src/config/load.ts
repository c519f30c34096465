/**
 * Builds the agent configuration from a JSON file (--config), then `PDM_AGENT_*` environment variables,
 * then command-line flags, each overriding the one before; validates the result once against the one
 * schema and freezes it. An invalid configuration fails with every problem listed, not just the first.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { PdmError } from '@pdm/protocol';
import { agentConfigSchema, type AgentConfig } from './schema.js';

export const ENV_PREFIX = 'PDM_AGENT_';

export interface ConfigInputs {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  readFile?: (path: string) => string;
}

type Tree = Record<string, unknown>;
type LeafKind = 'string' | 'number' | 'boolean' | 'other';

/** True when the flags ask for usage instead of a run. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

export function loadConfig(inputs: ConfigInputs): AgentConfig {
  const problems: string[] = [];
  const flags = parseFlags(inputs.argv, problems);
  const fromFile = flags.configFile === undefined ? {} : readConfigFile(flags.configFile, inputs.readFile, problems);
  const merged = deepMerge(deepMerge(fromFile, envOverrides(inputs.env)), flags.overrides);
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) problems.push(...issueLines(parsed.error));
  if (problems.length > 0 || !parsed.success) {
    throw new PdmError('CONFIG_INVALID', `invalid agent configuration:\n  ${problems.join('\n  ')}`, { context: { problems } });
  }
  return deepFreeze(parsed.data);
}

function issueLines(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
}

function readConfigFile(path: string, readFile: ((p: string) => string) | undefined, problems: string[]): Tree {
  let text: string;
  try {
    text = (readFile ?? ((p: string) => readFileSync(p, 'utf8')))(path);
  } catch (err) {
    problems.push(`--config: cannot read ${path}: ${(err as Error).message}`);
    return {};
  }
  try {
    const json: unknown = JSON.parse(text);
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) return json as Tree;
    problems.push(`--config: ${path} must hold a JSON object`);
  } catch (err) {
    problems.push(`--config: ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return {};
}

/** `PDM_AGENT_DEVICE_ID` -> deviceId; `__` nests: `PDM_AGENT_SOURCE__SPEED` -> source.speed. */
function envOverrides(env: ConfigInputs['env']): Tree {
  const out: Tree = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const path = key.slice(ENV_PREFIX.length).split('__').map(screamingToCamel);
    setPath(out, path, coerce(raw, leafKind(agentConfigSchema, path)));
  }
  return out;
}

/** `--device-id m3`, `--device-id=m3`, `--source.speed=max`; a flag without a value means true. */
function parseFlags(argv: readonly string[], problems: string[]): { configFile?: string; overrides: Tree } {
  const overrides: Tree = {};
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg.length === 2) {
      problems.push(`argument "${arg}": expected --name value or --name=value`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
    else value = 'true';
    if (name === 'config') {
      configFile = value;
      continue;
    }
    const path = name.split('.').map(kebabToCamel);
    setPath(overrides, path, coerce(value, leafKind(agentConfigSchema, path)));
  }
  return configFile === undefined ? { overrides } : { configFile, overrides };
}

function screamingToCamel(s: string): string {
  return s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function kebabToCamel(s: string): string {
  return s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Env and flag values are strings; the schema says what each path holds, so "30" becomes a number only
 * where a number is expected and a deviceId of "007" stays a string. Anything else is parsed as JSON
 * when it can be (arrays, objects, `60` for a speed), else kept as the string, for the schema to judge.
 */
function coerce(raw: string, kind: LeafKind): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'number': {
      const n = Number(raw);
      return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
    }
    case 'boolean':
      if (/^(true|1|yes)$/i.test(raw)) return true;
      if (/^(false|0|no)$/i.test(raw)) return false;
      return raw;
    case 'other':
      try {
        return JSON.parse(raw);
      } catch {
        return raw;
      }
  }
}

interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  values?: unknown[];
}

/** What the schema expects at `path`: walks objects, records, unions and wrappers (default, optional). */
function leafKind(schema: z.ZodType, path: readonly string[]): LeafKind {
  const def = schema.def as unknown as SchemaDef;
  switch (def.type) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
      return leafKind(def.innerType!, path);
    case 'pipe':
      return leafKind(def.in!, path);
    case 'union': {
      const kinds = new Set(def.options!.map((o) => leafKind(o, path)));
      return kinds.size === 1 ? [...kinds][0]! : 'other';
    }
    case 'object':
      if (path.length === 0) return 'other';
      return def.shape![path[0]!] === undefined ? 'other' : leafKind(def.shape![path[0]!]!, path.slice(1));
    case 'record':
      return path.length === 0 ? 'other' : leafKind(def.valueType!, path.slice(1));
    default:
      if (path.length > 0) return 'other';
      if (def.type === 'string' || def.type === 'enum') return 'string';
      if (def.type === 'literal') return typeof def.values?.[0] === 'string' ? 'string' : 'other';
      if (def.type === 'number') return 'number';
      if (def.type === 'boolean') return 'boolean';
      return 'other';
  }
}

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  path.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  });
  node[path[path.length - 1]!] = value;
}

function isTree(value: unknown): value is Tree {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isTree(prev) && isTree(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * The configuration fields, read from the schema itself: path, type, default and description. --help
 * prints them and a test checks that agent/README.md documents every one, so the docs cannot drift.
 */
import type { z } from 'zod';
import { agentConfigSchema } from './schema.js';

export interface ConfigField {
  /** e.g. "source.speed"; array items appear as "source.eventsFiles[].file". */
  readonly path: string;
  readonly type: string;
  /** Must be given (where its parent object is given). */
  readonly required: boolean;
  readonly default?: unknown;
  readonly description: string;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  entries?: Record<string, string>;
  values?: unknown[];
  defaultValue?: unknown;
}

const defOf = (schema: z.ZodType): Def => schema.def as unknown as Def;

export function configFields(): ConfigField[] {
  const out: ConfigField[] = [];
  walk(agentConfigSchema, '', { required: true, description: '' }, out);
  return out;
}

interface Context {
  required: boolean;
  default?: unknown;
  description: string;
}

function walk(schema: z.ZodType, path: string, ctx: Context, out: ConfigField[]): void {
  const def = defOf(schema);
  const description = schema.description ?? ctx.description;
  switch (def.type) {
    case 'default':
    case 'prefault':
      return walk(def.innerType!, path, { ...ctx, description, required: false, default: def.defaultValue }, out);
    case 'optional':
      return walk(def.innerType!, path, { ...ctx, description, required: false }, out);
    case 'pipe':
      return walk(def.in!, path, { ...ctx, description }, out);
    case 'object':
      // a field is required only where its parent is: syntheticTime.start is required only with syntheticTime
      for (const [key, child] of Object.entries(def.shape!)) {
        walk(child, path === '' ? key : `${path}.${key}`, { required: ctx.required, description: '' }, out);
      }
      return;
    case 'union':
      if (def.options!.every((o) => defOf(o).type === 'object')) {
        for (const option of def.options!) walk(option, path, ctx, out);
        return;
      }
      break;
    case 'array':
      if (defOf(def.element!).type === 'object') {
        out.push(field(path, 'array of objects', ctx, description));
        walk(def.element!, `${path}[]`, { required: true, description: '' }, out);
        return;
      }
      break;
  }
  out.push(field(path, typeName(schema), ctx, description));
}

function field(path: string, type: string, ctx: Context, description: string): ConfigField {
  return { path, type, required: ctx.required, ...(ctx.default === undefined ? {} : { default: ctx.default }), description };
}

function typeName(schema: z.ZodType): string {
  const def = defOf(schema);
  switch (def.type) {
    case 'enum':
      return Object.values(def.entries!).map((v) => JSON.stringify(v)).join(' | ');
    case 'literal':
      return def.values!.map((v) => JSON.stringify(v)).join(' | ');
    case 'union':
      return def.options!.map(typeName).join(' | ');
    case 'record':
      return 'object';
    case 'default':
    case 'prefault':
    case 'optional':
      return typeName(def.innerType!);
    case 'pipe':
      return typeName(def.in!);
    default:
      return def.type;
  }
}

/** The environment variable for a path: source.speed -> PDM_AGENT_SOURCE__SPEED. */
export function envName(path: string): string {
  return 'PDM_AGENT_' + path.split('.').map((s) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
}

/** The flag for a path: source.maxRows -> --source.max-rows. */
export function flagName(path: string): string {
  return '--' + path.split('.').map((s) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()).join('.');
}

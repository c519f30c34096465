/**
 * The shape every pdmctl command group follows. A group (models, rollouts, trust, audit, reports, ...)
 * is one module under ./commands exporting a `CommandGroup`; pdmctl.ts only dispatches. Options are
 * declared in node:util parseArgs form so each subcommand parses (and rejects) its own flags.
 */
import type { ParseArgsConfig } from 'node:util';
import { PdmError } from '@pdm/protocol';
import type { ApiClient } from './client.js';
import type { Output } from './output.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** What a subcommand receives: its parsed flags and positionals, an API client and the output sink. */
export interface CommandContext {
  readonly api: ApiClient;
  readonly out: Output;
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: readonly string[];
}

export interface Subcommand {
  /** One line for the help listing. */
  readonly summary: string;
  /** Arguments and flags after `pdmctl <group> <name>`, e.g. `<file.onnx> --name <n> --version <v>`. */
  readonly usage: string;
  readonly options?: OptionSpec;
  /** Returns the process exit code (0 on success). */
  run(ctx: CommandContext): Promise<number>;
}

export interface CommandGroup {
  readonly name: string;
  readonly summary: string;
  readonly commands: Readonly<Record<string, Subcommand>>;
}

/** Reads a string flag that parseArgs declared as `type: 'string'`. */
export function stringFlag(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Reads a string flag the command cannot do without: a usage error (exit 2) naming it when missing. */
export function requiredFlag(ctx: CommandContext, name: string, command: string): string {
  const v = stringFlag(ctx, name);
  if (v === undefined) throw new PdmError('REQUEST_INVALID', `${command} needs --${name}`);
  return v;
}

/** Reads a repeatable string flag (`multiple: true`). */
export function stringListFlag(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

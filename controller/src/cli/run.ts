/**
 * pdmctl's dispatcher, separate from the bin so tests run it in-process:
 * `pdmctl [global flags] <group> <command> [args] [flags]`. Global flags (--url / PDM_URL,
 * --token / PDM_TOKEN, --token-file / PDM_TOKEN_FILE, --json, --help) are accepted before the group
 * and after the command.
 * Exit codes: 0 ok, 1 the controller refused or failed, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PdmError, isPdmError } from '@pdm/protocol';
import { ApiClient } from './client.js';
import type { CommandGroup, OptionSpec, Subcommand } from './command.js';
import { commandGroups } from './commands/index.js';
import { createOutput, type Writers } from './output.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

const globalOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpec;

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  writers?: Writers;
  fetch?: typeof globalThis.fetch;
  groups?: readonly CommandGroup[];
}

export async function runPdmctl(argv: readonly string[], opts: RunOptions = {}): Promise<number> {
  const w = opts.writers ?? { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };
  const groups = opts.groups ?? commandGroups;
  const env = opts.env ?? process.env;
  const { leading, rest } = splitLeadingGlobals(argv);
  const [groupName, commandName, ...args] = rest;
  const group = groups.find((g) => g.name === groupName);
  if (group === undefined) {
    if (groupName !== undefined) w.stderr(`pdmctl: unknown command group ${JSON.stringify(groupName)}\n`);
    w.stdout(topUsage(groups));
    // `pdmctl --help` is a request for this text; anything else that lands here is a usage error.
    return groupName === undefined && leading.help === true ? 0 : 2;
  }
  const command = commandName === undefined ? undefined : group.commands[commandName];
  if (command === undefined) {
    if (commandName !== undefined && commandName !== '--help') w.stderr(`pdmctl: unknown command ${JSON.stringify(`${group.name} ${commandName}`)}\n`);
    w.stdout(groupUsage(group));
    return commandName === undefined || commandName === '--help' ? 0 : 2;
  }

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...args], options: { ...globalOptions, ...command.options }, allowPositionals: true, strict: true });
  } catch (err) {
    w.stderr(`pdmctl ${group.name} ${commandName}: ${(err as Error).message}\nusage: pdmctl ${group.name} ${commandName} ${command.usage}\n`);
    return 2;
  }
  const values = { ...leading, ...parsed.values };
  if (values.help === true) { w.stdout(commandUsage(group.name, commandName!, command)); return 0; }

  const json = values.json === true;
  const out = createOutput(json, w);
  const url = str(values.url) ?? env.PDM_URL ?? DEFAULT_URL;
  try {
    const token = resolveToken(values, env);
    const api = new ApiClient({ url, token, ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }) });
    return await command.run({ api, out, values, positionals: parsed.positionals });
  } catch (err) {
    if (!isPdmError(err)) throw err;
    if (json) w.stdout(`${JSON.stringify({ error: err.toJSON() })}\n`);
    w.stderr(`pdmctl: ${err.code}: ${err.message}${describeContext(err.context)}\n`);
    return err.code === 'REQUEST_INVALID' && err.context.httpStatus === undefined ? 2 : 1;
  }
}

/**
 * The token: --token, else the file named by --token-file (e.g. the controller's
 * `<dataDir>/admin.token`), else $PDM_TOKEN, else the file named by $PDM_TOKEN_FILE.
 */
function resolveToken(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string | undefined {
  const flag = str(values.token);
  if (flag !== undefined) return flag;
  const file = str(values['token-file']) ?? (env.PDM_TOKEN === undefined || env.PDM_TOKEN === '' ? str(env.PDM_TOKEN_FILE) : undefined);
  if (file === undefined) return str(env.PDM_TOKEN);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (cause) {
    throw new PdmError('REQUEST_INVALID', `cannot read the token file ${file}`, { cause, context: { file } });
  }
}

/** Global flags may come before the group name: `pdmctl --json models ls`. */
function splitLeadingGlobals(argv: readonly string[]): { leading: Record<string, string | boolean>; rest: string[] } {
  const leading: Record<string, string | boolean> = {};
  let i = 0;
  for (; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--json') leading.json = true;
    else if (arg === '--help' || arg === '-h') leading.help = true;
    else if (VALUE_FLAGS.includes(arg) && argv[i + 1] !== undefined) { leading[arg.slice(2)] = argv[i + 1]!; i += 1; }
    else if (VALUE_FLAGS.some((f) => arg.startsWith(`${f}=`))) { const eq = arg.indexOf('='); leading[arg.slice(2, eq)] = arg.slice(eq + 1); }
    else break;
  }
  return { leading, rest: argv.slice(i) };
}

const VALUE_FLAGS = ['--url', '--token', '--token-file'];

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function describeContext(context: Record<string, unknown>): string {
  const shown = Object.entries(context).filter(([k]) => k !== 'url');
  if (shown.length === 0) return '';
  return `\n${shown.map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n')}`;
}

function topUsage(groups: readonly CommandGroup[]): string {
  const lines = groups.map((g) => `  ${g.name.padEnd(12)} ${g.summary}`);
  return `Usage: pdmctl [--url URL] [--token TOKEN | --token-file FILE] [--json] <group> <command> [args]

The controller's command line. URL defaults to $PDM_URL or ${DEFAULT_URL}; TOKEN to $PDM_TOKEN,
or the contents of FILE ($PDM_TOKEN_FILE), e.g. the controller's <dataDir>/admin.token.
--json prints one JSON document for scripts instead of tables.

Groups:
${lines.join('\n')}

pdmctl <group> --help lists a group's commands.
`;
}

function groupUsage(group: CommandGroup): string {
  const lines = Object.entries(group.commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `Usage: pdmctl ${group.name} <command> [args]\n\n${group.summary}\n\nCommands:\n${lines.join('\n')}\n`;
}

function commandUsage(group: string, name: string, command: Subcommand): string {
  return `Usage: pdmctl ${group} ${name} ${command.usage}\n\n${command.summary}\n`;
}

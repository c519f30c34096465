/**
 * Command-line flags of pdm-controller: `--<config-key-in-kebab-case> <value>` or `--flag=value` for every
 * config field, plus --config, --help and --version. Unknown flags and missing values are collected as
 * problems, never thrown one at a time, so they are listed with the config's own problems.
 */
import { configKeys, flagName, type ConfigKey } from './config.js';

export interface ParsedFlags {
  configFile?: string;
  help: boolean;
  version: boolean;
  values: Partial<Record<ConfigKey, string>>;
  problems: string[];
}

const byFlag = new Map<string, ConfigKey>(configKeys.map((k) => [flagName(k), k]));

export function parseFlags(argv: readonly string[]): ParsedFlags {
  const out: ParsedFlags = { help: false, version: false, values: {}, problems: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') { out.help = true; continue; }
    if (arg === '--version') { out.version = true; continue; }
    if (!arg.startsWith('--')) {
      out.problems.push(`argument ${JSON.stringify(arg)}: unexpected (flags look like --name value)`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        value = next;
        i += 1;
      }
    }
    if (name === '--config') {
      if (value === undefined) out.problems.push('flag --config: needs a file path');
      else out.configFile = value;
      continue;
    }
    const key = byFlag.get(name);
    if (key === undefined) {
      out.problems.push(`flag ${name}: unknown (see --help)`);
    } else if (value === undefined) {
      out.problems.push(`flag ${name}: needs a value`);
    } else {
      out.values[key] = value;
    }
  }
  return out;
}

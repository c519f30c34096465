import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isPdmError, type PdmError } from '@pdm/protocol';
import { configKeys, envName, flagName, loadConfig, type ConfigSources } from './config.js';
import { parseFlags } from './flags.js';
import { tempDir } from './testing/temp-dir.js';

const dirs: { remove: () => void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function writeJson(value: unknown): string {
  const dir = tempDir();
  dirs.push(dir);
  const file = join(dir.path, 'controller.json');
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

function problemsOf(sources: ConfigSources): string[] {
  try {
    loadConfig(sources);
  } catch (err) {
    expect(isPdmError(err, 'CONFIG_INVALID')).toBe(true);
    return (err as PdmError).context.problems as string[];
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  it('has a default for every field and freezes the result', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1', httpPort: 8080, mqttPort: 1883, wsPort: 8083, brokerMode: 'embedded', heartbeatTimeoutSec: 90,
      commandTimeoutMs: 10_000, drainTimeoutMs: 10_000, brokerConcurrency: 100, logLevel: 'info',
    });
    expect(config.dataDir).toBe(join(process.cwd(), 'data/controller'));
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => { (config as { httpPort: number }).httpPort = 1; }).toThrow(TypeError);
  });

  it('takes the file, then env, then flags', () => {
    const file = writeJson({ httpPort: 1001, mqttPort: 1002, wsPort: 1003, host: '0.0.0.0' });
    const config = loadConfig({
      file,
      env: { PDM_CONTROLLER_MQTT_PORT: '2002', PDM_CONTROLLER_WS_PORT: '2003', HOME: '/x' },
      flags: { wsPort: '3003' },
    });
    expect(config).toMatchObject({ httpPort: 1001, mqttPort: 2002, wsPort: 3003, host: '0.0.0.0' });
  });

  it('accepts port 0 (pick a free port)', () => {
    expect(loadConfig({ flags: { httpPort: '0', mqttPort: '0', wsPort: '0' } })).toMatchObject({ httpPort: 0, mqttPort: 0, wsPort: 0 });
  });

  it('lists every problem, each with where it came from', () => {
    const file = writeJson({ httpPort: 70000, brokerMode: 'cloud', colour: 'blue' });
    const parsed = parseFlags(['--heartbeat-timeout-sec', 'soon', '--bogus', '1', '--log-level']);
    const problems = problemsOf({
      file,
      env: { PDM_CONTROLLER_MQTT_PORT: '', PDM_CONTROLLER_TYPO: '1', PDM_CONTROLLER_DRAIN_TIMEOUT_MS: '-5' },
      flags: parsed.values,
      problems: parsed.problems,
    });
    const expected = [
      /^flag --bogus: unknown/,
      /^flag --log-level: needs a value/,
      /^env PDM_CONTROLLER_TYPO: unknown setting/,
      /^httpPort \(file .*controller\.json\): .*65535/,
      /^brokerMode \(file .*controller\.json\): /,
      /^\(root\) \(file .*controller\.json\): .*colour/,
      /^mqttPort \(env PDM_CONTROLLER_MQTT_PORT\): /,
      /^drainTimeoutMs \(env PDM_CONTROLLER_DRAIN_TIMEOUT_MS\): /,
      /^heartbeatTimeoutSec \(flag --heartbeat-timeout-sec\): /,
    ];
    for (const re of expected) expect(problems.some((p) => re.test(p)), `${re} in\n${problems.join('\n')}`).toBe(true);
    expect(problems).toHaveLength(expected.length);
  });

  it('reports a missing file and a file that is not JSON', () => {
    expect(problemsOf({ file: '/nonexistent/pdm.json' })).toEqual(['file /nonexistent/pdm.json: cannot be read (ENOENT)']);
    const bad = writeJson('{ "httpPort": ');
    expect(problemsOf({ file: bad })[0]).toMatch(/not valid JSON/);
    const arr = writeJson([1]);
    expect(problemsOf({ file: arr })[0]).toMatch(/must hold a JSON object/);
  });

  it('maps every key to one env name and one flag', () => {
    expect(envName('heartbeatTimeoutSec')).toBe('PDM_CONTROLLER_HEARTBEAT_TIMEOUT_SEC');
    expect(flagName('dataDir')).toBe('--data-dir');
    expect(new Set(configKeys.map(envName)).size).toBe(configKeys.length);
    expect(new Set(configKeys.map(flagName)).size).toBe(configKeys.length);
  });
});

describe('parseFlags', () => {
  it('reads --name value and --name=value, --config, --help and --version', () => {
    const f = parseFlags(['--config', 'c.json', '--http-port=0', '--host', '0.0.0.0', '--help', '--version']);
    expect(f).toEqual({ configFile: 'c.json', help: true, version: true, values: { httpPort: '0', host: '0.0.0.0' }, problems: [] });
  });

  it('collects stray arguments and missing values instead of stopping at the first', () => {
    const f = parseFlags(['stray', '--config', '--mqtt-port']);
    expect(f.problems).toEqual([
      'argument "stray": unexpected (flags look like --name value)',
      'flag --config: needs a file path',
      'flag --mqtt-port: needs a value',
    ]);
  });
});

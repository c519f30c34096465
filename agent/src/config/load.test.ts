import { describe, expect, it } from 'vitest';
import { isPdmError } from '@pdm/protocol';
import { loadConfig } from './load.js';

const minimal = {
  deviceId: 'edge-1',
  assetId: 'machine-3',
  model: 'models/m',
  source: { type: 'replay-csv', file: 'data.csv', timeColumn: 'datetime' },
};

function load(file: unknown, env: Record<string, string> = {}, argv: string[] = []) {
  return loadConfig({
    argv: ['--config', 'agent.json', ...argv],
    env,
    readFile: () => JSON.stringify(file),
  });
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (isPdmError(err, 'CONFIG_INVALID')) return err.context['problems'] as string[];
    throw err;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  it('fills every default and freezes the result', () => {
    const config = load(minimal);
    expect(config).toMatchObject({
      assetClass: 'default',
      site: 'default',
      brokerUrl: 'mqtt://127.0.0.1:1883',
      dataDir: './data',
      heartbeatSeconds: 30,
      metricsWindowSeconds: 3600,
      inference: { maxBatchRows: 256 },
      alerts: { cooldownSeconds: 21_600, criticalMargin: 0.5 },
      outbox: { synchronous: 'NORMAL' },
      forwarder: { maxInFlight: 64 },
      link: { keepaliveSeconds: 30, reconnectInitialMs: 500, reconnectMaxMs: 30_000 },
      exitWhenDone: false,
      logLevel: 'info',
      source: { speed: 'max', signals: {}, eventsFiles: [] },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.source)).toBe(true);
    expect(Object.isFrozen(config.link)).toBe(true);
  });

  it('lets env override the file and flags override env, coercing by the schema', () => {
    const config = load(
      minimal,
      {
        PDM_AGENT_DEVICE_ID: '007',
        PDM_AGENT_HEARTBEAT_SECONDS: '5',
        PDM_AGENT_SOURCE__SPEED: '60',
        PDM_AGENT_INFERENCE__MAX_BATCH_ROWS: '32',
        PDM_AGENT_EXIT_WHEN_DONE: 'true',
        OTHER_VAR: 'ignored',
      },
      ['--heartbeat-seconds', '7', '--source.filter=machineID=3', '--source.speed=max', '--log-level=warn'],
    );
    expect(config.deviceId).toBe('007');
    expect(config.heartbeatSeconds).toBe(7);
    expect(config.inference.maxBatchRows).toBe(32);
    expect(config.exitWhenDone).toBe(true);
    expect(config.logLevel).toBe('warn');
    expect(config.source.speed).toBe('max');
    expect(config.source.filter).toEqual({ column: 'machineID', value: '3' });
  });

  it('reads a numeric speed from env and a bare boolean flag', () => {
    const config = load(minimal, { PDM_AGENT_SOURCE__SPEED: '3600' }, ['--exit-when-done']);
    expect(config.source.speed).toBe(3600);
    expect(config.exitWhenDone).toBe(true);
  });

  it('lists every problem at once', () => {
    const problems = problemsOf(() =>
      load(
        {
          deviceId: 'bad id/with slash',
          model: '',
          heartbeatSeconds: -1,
          brokerUrl: 'http://example.com',
          source: { type: 'replay-csv', file: 'x.csv', filter: 'nofilter', speed: 0 },
          link: { reconnectInitialMs: 5000, reconnectMaxMs: 1000 },
          surprise: true,
        },
        { PDM_AGENT_METRICS_WINDOW_SECONDS: 'soon' },
        ['stray'],
      ),
    );
    const paths = problems.map((p) => p.split(':')[0]);
    expect(paths).toEqual(
      expect.arrayContaining([
        'argument "stray"',
        'deviceId',
        'assetId',
        'model',
        'heartbeatSeconds',
        'brokerUrl',
        'metricsWindowSeconds',
        'source.filter',
        'source.speed',
        'source.timeColumn',
        'link.reconnectMaxMs',
        '(root)',
      ]),
    );
    expect(problems.find((p) => p.startsWith('(root)'))).toMatch(/surprise/);
    expect(problems.length).toBeGreaterThanOrEqual(12);
  });

  it('reports an unreadable or non-JSON config file as a problem', () => {
    const unreadable = problemsOf(() =>
      loadConfig({ argv: ['--config', '/nope.json'], env: {}, readFile: () => { throw new Error('ENOENT'); } }),
    );
    expect(unreadable[0]).toMatch(/--config: cannot read \/nope.json/);
    const notJson = problemsOf(() => loadConfig({ argv: ['--config', 'a.json'], env: {}, readFile: () => '{nope' }));
    expect(notJson[0]).toMatch(/not valid JSON/);
  });

  it('requires exactly one of timeColumn and syntheticTime', () => {
    const both = problemsOf(() =>
      load({ ...minimal, source: { ...minimal.source, syntheticTime: { start: '2020-01-01T00:00:00Z', intervalSeconds: 60 } } }),
    );
    expect(both).toEqual(['source.timeColumn: set exactly one of timeColumn and syntheticTime']);
  });

  it('takes log files with defaults from a file or a flag, and names every bad field', () => {
    const logFiles = [{ file: 'errors.csv', kind: 'error' }, { file: 'maint.csv', kind: 'maintenance', codeColumn: 'part', filter: 'machine=3' }];
    const config = load({ ...minimal, source: { ...minimal.source, logFiles } });
    expect(config.source.logFiles).toEqual([
      { file: 'errors.csv', kind: 'error', timeColumn: 'datetime' },
      { file: 'maint.csv', kind: 'maintenance', timeColumn: 'datetime', codeColumn: 'part', filter: { column: 'machine', value: '3' } },
    ]);
    const fromFlag = load(minimal, {}, ['--source.log-files', JSON.stringify(logFiles.slice(0, 1))]);
    expect(fromFlag.source.logFiles).toEqual([{ file: 'errors.csv', kind: 'error', timeColumn: 'datetime' }]);
    expect(load(minimal).source.logFiles).toEqual([]);

    const bad = [{ file: '', kind: 'failure', timeColumn: '', filter: 'machine', extra: 1 }];
    const problems = problemsOf(() => load({ ...minimal, source: { ...minimal.source, logFiles: bad } }));
    expect(problems.map((p) => p.slice(0, p.indexOf(':')))).toEqual(
      expect.arrayContaining(['source.logFiles.0.file', 'source.logFiles.0.kind', 'source.logFiles.0.timeColumn', 'source.logFiles.0.filter', 'source.logFiles.0']),
    );
    expect(problems.find((p) => p.startsWith('source.logFiles.0.kind'))).toMatch(/error.*maintenance/);
    expect(problems.find((p) => p.startsWith('source.logFiles.0:'))).toMatch(/extra/);
  });
});

/**
 * install.sh from the release tarball, into a temp root (--destdir) since this machine runs no
 * systemd: the layout agent/README.md "Install on a gateway" describes, the installed executable
 * running through its symlinks, side-by-side versions with upgrade and rollback, and the systemd
 * units checked by systemd-analyze (verify, and the offline security score).
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../agent/src/config/schema.js';
import { NODE_VERSION } from '../../agent/packaging/node24.js';
import { referenceModelDir } from '../helpers/fleet.js';
import { ensureArtifact, runProgram, unpack } from './artifact.js';
import { freePort } from './mosquitto.js';

const hasSystemdAnalyze = (() => {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('install.sh into a staging root', () => {
  let dir: string;
  let release: string;
  let version: string;
  let root: string;
  const lib = (): string => join(root, 'usr/local/lib/pdm-agent');
  const install = (from: string, ...args: string[]) => runProgram('sh', [join(from, 'install.sh'), '--destdir', root, ...args], { cwd: dir, timeoutMs: 60_000 });

  beforeAll(async () => {
    const built = await ensureArtifact();
    version = built.version;
    dir = mkdtempSync(join(tmpdir(), 'pdm-install-'));
    await unpack(built.tarball, join(dir, 'unpacked'));
    release = join(dir, 'unpacked', built.name);
    root = join(dir, 'root');
  }, 600_000);

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('lays out the version directory, the symlinks, config, data and units', async () => {
    const ran = await install(release);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain(`active version: ${version}`);

    expect(readlinkSync(join(lib(), 'current'))).toBe(version);
    expect(readlinkSync(join(root, 'usr/local/bin/pdm-agent'))).toBe('../lib/pdm-agent/current/pdm-agent');
    expect(realpathSync(join(root, 'usr/local/bin/pdm-agent'))).toBe(join(realpathSync(lib()), version, 'pdm-agent'));
    for (const f of ['native/better_sqlite3.node', 'native/onnxruntime_binding.node', 'native/libonnxruntime.so.1', 'BUILD-INFO.json', 'install.sh', 'README.md']) {
      expect(lstatSync(join(lib(), version, f)).isFile(), f).toBe(true);
    }
    const config = join(root, 'etc/pdm-agent/agent.json');
    expect(statSync(config).mode & 0o777).toBe(0o640);
    expect(statSync(join(root, 'etc/pdm-agent')).mode & 0o777).toBe(0o750);
    expect(statSync(join(root, 'var/lib/pdm-agent')).mode & 0o777).toBe(0o750);
    // the shipped example is a valid agent configuration
    const parsed = agentConfigSchema.safeParse(JSON.parse(readFileSync(config, 'utf8')));
    expect(parsed.success, parsed.error?.message).toBe(true);
    const unit = readFileSync(join(root, 'etc/systemd/system/pdm-agent.service'), 'utf8');
    expect(unit).toContain('ExecStart=/usr/local/bin/pdm-agent --config /etc/pdm-agent/agent.json');
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/pdm-agent$/m);
  });

  it('runs the installed executable through /usr/local/bin (both native addons load beside the resolved file), and `pdm-agent health` reports on it', async () => {
    const exe = join(root, 'usr/local/bin/pdm-agent');
    const ran = await runProgram(exe, ['--version'], { cwd: dir });
    expect(ran.stdout).toBe(`pdm-agent ${version} (node v${NODE_VERSION}, linux-x64)\n`);
    // a real start: the model (onnxruntime) loads, then the outbox (better-sqlite3) opens; no broker
    // listens, so it keeps retrying until SIGTERM, and stops cleanly
    const data = join(root, 'var/lib/pdm-agent');
    writeFileSync(join(dir, 'none.csv'), 'datetime,volt,rotate,pressure,vibration\n');
    const healthPort = await freePort();
    const args = [
      '--device-id', 'gw-installed', '--asset-id', 'machine-1', '--model', referenceModelDir, '--data-dir', data,
      '--broker-url', 'mqtt://127.0.0.1:9', '--source.type', 'replay-csv', '--source.file', join(dir, 'none.csv'),
      '--source.time-column', 'datetime', '--health-port', String(healthPort),
    ];
    const child = spawn(exe, args, { cwd: dir, env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const opened = new Promise<Record<string, unknown>>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry['msg'] === 'outbox opened') resolve(entry);
      });
    });
    const exited = once(child, 'exit');
    const entry = await Promise.race([opened, exited.then(() => undefined)]);
    expect(entry, 'the agent exited before opening its outbox').toBeDefined();
    // running, but no broker: unhealthy (exit 1) with the reason, which the watchdog only logs
    const unhealthy = await runProgram(exe, ['health', ...args], { cwd: dir });
    expect(unhealthy.code, unhealthy.stderr).toBe(1);
    expect(JSON.parse(unhealthy.stdout)).toMatchObject({ status: 'unhealthy', problems: ['link down'], link: { connected: false } });
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    // gone: no answer (exit 3), the one case the watchdog restarts
    const gone = await runProgram(exe, ['health', ...args, '--timeout-ms', '1000'], { cwd: dir });
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/no answer within 1000 ms/);
    expect(readFileSync(join(data, 'outbox.sqlite')).subarray(0, 15).toString()).toBe('SQLite format 3');
  });

  it('keeps an edited config, installs a second version beside the first, and rolls back by switching current', async () => {
    const config = join(root, 'etc/pdm-agent/agent.json');
    writeFileSync(config, '{"deviceId":"edited"}\n');
    // a second release: the same files under another version number
    const next = join(dir, 'next');
    cpSync(release, next, { recursive: true });
    const info = JSON.parse(readFileSync(join(release, 'BUILD-INFO.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(next, 'BUILD-INFO.json'), `${JSON.stringify({ ...info, version: '99.0.0-test', fingerprint: 'other' }, null, 2)}\n`);

    const upgraded = await install(next);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toBe('{"deviceId":"edited"}\n');
    expect(readlinkSync(join(lib(), 'current'))).toBe('99.0.0-test');
    expect(realpathSync(join(root, 'usr/local/bin/pdm-agent'))).toBe(join(realpathSync(lib()), '99.0.0-test', 'pdm-agent'));
    expect((await install(release, '--list')).stdout).toBe(`  ${version}\n* 99.0.0-test\n`);

    const back = await install(release, '--activate', version);
    expect(back.code, back.stderr).toBe(0);
    expect(readlinkSync(join(lib(), 'current'))).toBe(version);
    const missing = await install(release, '--activate', '0.0.0-never');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('0.0.0-never is not installed');
    expect(readlinkSync(join(lib(), 'current'))).toBe(version);

    // reinstalling the running build changes nothing
    const again = await install(release);
    expect(again.stdout).toContain(`${version} is already installed (same build)`);
  });

  it('refuses a relative prefix and unknown arguments', async () => {
    expect((await install(release, '--prefix', 'usr/local')).code).toBe(2);
    expect((await install(release, '--frobnicate')).code).toBe(2);
  });

  it.skipIf(!hasSystemdAnalyze)('ships units that systemd-analyze verifies, hardened to an "OK" exposure', async () => {
    // verify checks that ExecStart exists, so the copies point into the staging root
    const units = join(dir, 'units');
    cpSync(join(root, 'etc/systemd/system'), units, { recursive: true });
    for (const unit of ['pdm-agent.service', 'pdm-agent-watchdog.service', 'pdm-agent-watchdog.timer']) {
      const file = join(units, unit);
      writeFileSync(file, readFileSync(file, 'utf8').replaceAll('/usr/local/', `${root}/usr/local/`));
    }
    const verify = await runProgram('systemd-analyze', ['verify', join(units, 'pdm-agent.service'), join(units, 'pdm-agent-watchdog.timer')], { cwd: units });
    // RestartSteps and RestartMaxDelaySec (the growing restart delay) need systemd 254; older ones
    // ignore them with exactly this warning
    const problems = `${verify.stdout}${verify.stderr}`.split('\n').filter((l) => l !== '' && !/Unknown key '(RestartSteps|RestartMaxDelaySec)'/.test(l));
    expect(problems).toEqual([]);
    const security = await runProgram('systemd-analyze', ['security', '--offline=true', '--no-pager', join(units, 'pdm-agent.service')], { cwd: units });
    const exposure = /Overall exposure level for pdm-agent\.service: ([\d.]+)/.exec(security.stdout);
    expect(Number(exposure?.[1])).toBeLessThanOrEqual(2);
  });
});

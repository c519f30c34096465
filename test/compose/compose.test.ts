/**
 * docker-compose.yml cannot run here (no Docker engine), so this reads it the way Compose would and
 * checks what would break at `docker compose up`: every service's effective configuration passes the
 * program's own loader and schema (controller: parseFlags + loadConfig; agents: loadConfig with files
 * read through the service's volume mounts), every bind mount exists in the repo, every path a
 * program is given lands on a mount that holds it, and the broker, credentials and ACL agree.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig as loadAgentConfig } from '../../agent/src/config/load.js';
import type { AgentConfig } from '../../agent/src/config/schema.js';
import { artifactName } from '../../agent/packaging/build.js';
import { loadConfig as loadControllerConfig, type ControllerConfig } from '../../controller/src/config.js';
import { parseFlags } from '../../controller/src/flags.js';
import { repoRoot } from '../helpers/fleet.js';

interface Service {
  image?: string;
  working_dir?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

interface Mount {
  /** A host path (resolved in the repo) or a named volume. */
  readonly source: { readonly kind: 'bind'; readonly path: string } | { readonly kind: 'volume'; readonly name: string };
  readonly target: string;
  readonly readOnly: boolean;
}

const AGENTS = ['gw-m1', 'gw-m2', 'gw-m3'];
const CONTROLLER_USER = 'pdm-controller';

function mounts(service: Service): Mount[] {
  return (service.volumes ?? []).map((spec) => {
    const [source, target, mode] = spec.split(':') as [string, string, string | undefined];
    const readOnly = mode === 'ro';
    if (source.startsWith('.')) return { source: { kind: 'bind', path: join(repoRoot, source) }, target, readOnly };
    return { source: { kind: 'volume', name: source }, target, readOnly };
  });
}

/** Where a container path lives: the mount holding it and the rest of the path. */
function locate(service: Service, containerPath: string): { mount: Mount; rest: string } | undefined {
  const hits = mounts(service)
    .filter((m) => containerPath === m.target || containerPath.startsWith(`${m.target}/`))
    .sort((a, b) => b.target.length - a.target.length);
  const mount = hits[0];
  return mount === undefined ? undefined : { mount, rest: posix.relative(mount.target, containerPath) };
}

/** The host file behind a container path, when it is on a bind mount. */
function hostPath(service: Service, containerPath: string): string | undefined {
  const at = locate(service, containerPath);
  return at?.mount.source.kind === 'bind' ? join(at.mount.source.path, at.rest) : undefined;
}

function volumeFile(service: Service, containerPath: string): { volume: string; file: string } | undefined {
  const at = locate(service, containerPath);
  return at?.mount.source.kind === 'volume' ? { volume: at.mount.source.name, file: at.rest } : undefined;
}

/** `key value` lines of mosquitto.conf (comments skipped), first value per key. */
function mosquittoConf(): Map<string, string> {
  const lines = readFileSync(join(repoRoot, 'deploy/mosquitto/mosquitto.conf'), 'utf8').split('\n');
  const out = new Map<string, string>();
  for (const line of lines) {
    const m = /^([a-z_]+)\s+(.*)$/.exec(line.trim());
    if (m !== null && !out.has(m[1]!)) out.set(m[1]!, m[2]!);
  }
  return out;
}

describe('docker-compose.yml', () => {
  let compose: Compose;

  beforeAll(() => {
    // merge: true resolves `<<: *agent` as Compose does
    compose = parse(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
  });

  it('has the controller, mosquitto, the credentials step and three agents, and declares every named volume', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['controller', 'credentials', ...AGENTS, 'mosquitto'].sort());
    for (const [name, service] of Object.entries(compose.services)) {
      for (const m of mounts(service)) {
        if (m.source.kind === 'volume') expect(compose.volumes, `${name}: volume ${m.source.name}`).toHaveProperty(m.source.name);
        // a bind mount of something missing would be created by Docker as an empty directory
        else if (!m.source.path.includes(`/build/`)) expect(existsSync(m.source.path), `${name}: ${m.source.path}`).toBe(true);
      }
    }
  });

  it('starts mosquitto on the shipped config, after the credentials exist, with the password file and queues where the config says', () => {
    const conf = mosquittoConf();
    const mosquitto = compose.services['mosquitto']!;
    const credentials = compose.services['credentials']!;
    expect(mosquitto.depends_on).toEqual({ credentials: { condition: 'service_completed_successfully' } });
    expect(mosquitto.command).toEqual(['mosquitto', '-c', '/mosquitto/config/mosquitto.conf']);
    expect(hostPath(mosquitto, '/mosquitto/config/mosquitto.conf')).toBe(join(repoRoot, 'deploy/mosquitto/mosquitto.conf'));
    expect(hostPath(mosquitto, conf.get('acl_file')!)).toBe(join(repoRoot, 'deploy/mosquitto/acl'));
    expect(volumeFile(mosquitto, conf.get('persistence_location')!)).toEqual({ volume: 'mosquitto-data', file: '' });
    // the entrypoint copies the hashed passwd from the credentials volume to password_file
    const passwd = conf.get('password_file')!;
    const copied = /cp (\S+) (\S+)/.exec(mosquitto.entrypoint!.join(' '))!;
    expect(copied[2]).toBe(passwd);
    expect(volumeFile(mosquitto, copied[1]!)).toEqual({ volume: 'credentials', file: 'passwd' });
    // ... which make-credentials.sh writes into the same volume
    const [, script, dir, ...users] = credentials.command!;
    expect(hostPath(credentials, script!)).toBe(join(repoRoot, 'deploy/mosquitto/make-credentials.sh'));
    expect(volumeFile(credentials, dir!)).toEqual({ volume: 'credentials', file: '' });
    expect(users.sort()).toEqual([CONTROLLER_USER, ...AGENTS].sort());
    // published on the listener's port
    expect(mosquitto.ports).toEqual([`${conf.get('listener')}:${conf.get('listener')}`]);
  });

  describe('controller', () => {
    let service: Service;
    let config: ControllerConfig;

    beforeAll(() => {
      service = compose.services['controller']!;
      const [node, main, ...args] = service.command!;
      expect([node, main]).toEqual(['node', 'controller/dist/main.js']);
      const flags = parseFlags(args);
      config = loadControllerConfig({ file: flags.configFile, env: service.environment ?? {}, flags: flags.values, problems: flags.problems });
    });

    it('runs controller/dist/main.js (npm run build) from the repo, mounted read-only at its working directory', () => {
      const main = service.command![1]!;
      expect(hostPath(service, posix.join(service.working_dir!, main))).toBe(join(repoRoot, 'controller/dist/main.js'));
      expect(locate(service, service.working_dir!)?.mount).toMatchObject({ source: { kind: 'bind', path: join(repoRoot, '.') }, readOnly: true });
      expect(service.image).toMatch(/^node:20-bookworm/);
    });

    it('uses Mosquitto as its external broker, as a user the ACL knows, with the client id Mosquitto will give it', () => {
      expect(config.brokerMode).toBe('external');
      const url = new URL(config.brokerUrl!);
      expect(url.hostname).toBe('mosquitto');
      expect(url.port).toBe(mosquittoConf().get('listener'));
      expect(config.brokerUsername).toBe(CONTROLLER_USER);
      expect(readFileSync(join(repoRoot, 'deploy/mosquitto/acl'), 'utf8')).toMatch(new RegExp(`^user ${CONTROLLER_USER}$`, 'm'));
      expect(config.brokerClientId).toBe(config.brokerUsername);
      expect(volumeFile(service, config.brokerPasswordFile!)).toEqual({ volume: 'credentials', file: `${CONTROLLER_USER}.password` });
    });

    it('serves HTTP on every interface of its container at the published port, with its data on a volume', () => {
      expect(config.host).toBe('0.0.0.0');
      expect(service.ports).toEqual([`${config.httpPort}:${config.httpPort}`]);
      expect(volumeFile(service, config.dataDir)).toEqual({ volume: 'controller-data', file: '' });
    });
  });

  describe.each(AGENTS)('agent %s', (name) => {
    let service: Service;
    let config: AgentConfig;

    beforeAll(() => {
      service = compose.services[name]!;
      const [exe, ...args] = service.command!;
      expect(exe).toBe('/opt/pdm-agent/pdm-agent');
      // files named on the command line (--config) are read through the container's mounts
      config = loadAgentConfig({
        argv: args,
        env: service.environment ?? {},
        readFile: (p) => readFileSync(hostPath(service, p) ?? `${p} is on no bind mount`, 'utf8'),
      });
    });

    it('runs the release executable that npm run build:agent makes', () => {
      expect(hostPath(service, '/opt/pdm-agent/pdm-agent')).toBe(join(repoRoot, 'build', artifactName(), 'pdm-agent'));
      expect(service.image).toMatch(/^debian:bookworm/);
    });

    it('is a device of its own: deviceId = its name, its machine\'s rows, its own data volume', () => {
      expect(config.deviceId).toBe(name);
      const machine = name.replace('gw-m', '');
      expect(config.assetId).toBe(`machine-${machine}`);
      expect(config.source.filter).toEqual({ column: 'machineID', value: machine });
      expect(volumeFile(service, config.dataDir)).toEqual({ volume: `${name}-data`, file: '' });
    });

    it('logs in to Mosquitto as its deviceId with its own password file', () => {
      const url = new URL(config.brokerUrl);
      expect([url.hostname, url.port]).toEqual(['mosquitto', mosquittoConf().get('listener')]);
      expect(volumeFile(service, config.link.passwordFile!)).toEqual({ volume: 'credentials', file: `${config.deviceId}.password` });
    });

    it('finds the model, the telemetry and the ground-truth files it is told to read', () => {
      const model = hostPath(service, config.model)!;
      for (const f of ['model.onnx', 'card.json']) expect(statSync(join(model, f)).isFile(), `${config.model}/${f}`).toBe(true);
      for (const file of [config.source.file, ...config.source.eventsFiles.map((e) => e.file)]) {
        expect(statSync(hostPath(service, file)!).isFile(), file).toBe(true);
      }
    });

    it('has a health check that asks its health endpoint with the same configuration', () => {
      expect(config.healthPort).toBeGreaterThan(0);
      expect(service.healthcheck?.test).toEqual(['CMD', '/opt/pdm-agent/pdm-agent', 'health', ...service.command!.slice(1)]);
      expect(service.depends_on).toEqual({ mosquitto: { condition: 'service_started' } });
    });
  });
});

/** External broker configuration and the part that reads its secrets; the link against a real Mosquitto is in test/external-broker. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isPdmError, type PdmError } from '@pdm/protocol';
import { loadConfig, type ConfigSources } from '../config.js';
import { captureLogs } from '../testing/log-capture.js';
import { tempDir } from '../testing/temp-dir.js';
import { ExternalBroker } from './external-broker.js';
import { sharedFilter } from './shared-subscriptions.js';

const dirs: { remove: () => void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
const { log } = captureLogs('silent');

function problemsOf(sources: ConfigSources): string[] {
  try {
    loadConfig(sources);
  } catch (err) {
    expect(isPdmError(err, 'CONFIG_INVALID')).toBe(true);
    return (err as PdmError).context.problems as string[];
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('external broker configuration', () => {
  it('takes the broker fields from env and flags, booleans as true/false', () => {
    const config = loadConfig({
      env: { PDM_CONTROLLER_BROKER_MODE: 'external', PDM_CONTROLLER_BROKER_URL: 'mqtts://broker.example:8883', PDM_CONTROLLER_BROKER_REJECT_UNAUTHORIZED: 'false' },
      flags: { brokerUsername: 'pdm-controller', brokerCaFile: 'ca.pem', brokerSharedGroup: 'pdm', brokerClientId: 'pdm-controller-2' },
    });
    expect(config).toMatchObject({
      brokerMode: 'external', brokerUrl: 'mqtts://broker.example:8883', brokerRejectUnauthorized: false, brokerUsername: 'pdm-controller',
      brokerSharedGroup: 'pdm', brokerClientId: 'pdm-controller-2', brokerSessionExpirySec: 604_800, leaderLeaseSec: 15,
    });
    expect(config.brokerCaFile).toBe(join(process.cwd(), 'ca.pem'));
  });

  it('lists every inconsistency of the broker fields, each naming where it came from', () => {
    expect(problemsOf({ flags: { brokerMode: 'external' } })).toEqual([expect.stringMatching(/^brokerUrl \(default\): required when brokerMode is "external"/)]);
    const problems = problemsOf({
      env: { PDM_CONTROLLER_BROKER_MODE: 'external', PDM_CONTROLLER_BROKER_URL: 'mqtt://broker:1883', PDM_CONTROLLER_BROKER_PASSWORD: 'x' },
      flags: { brokerPasswordFile: '/run/secret', brokerCertFile: 'c.pem', brokerCaFile: 'ca.pem' },
    });
    const expected = [
      /^brokerPasswordFile \(flag --broker-password-file\): give brokerPassword or brokerPasswordFile, not both/,
      /^brokerKeyFile \(default\): brokerCertFile and brokerKeyFile go together/,
      /^brokerCaFile \(flag --broker-ca-file\): needs an mqtts:\/\/ or wss:\/\/ brokerUrl/,
      /^brokerCertFile \(flag --broker-cert-file\): needs an mqtts:\/\/ or wss:\/\/ brokerUrl/,
    ];
    for (const re of expected) expect(problems.some((p) => re.test(p)), `${re} in\n${problems.join('\n')}`).toBe(true);
    expect(problems).toHaveLength(expected.length);
  });

  it('refuses credentials in the URL, unknown schemes, bad group names and external fields in embedded mode', () => {
    const problems = problemsOf({
      flags: { brokerMode: 'external', brokerUrl: 'mqtt://user:secret@broker:1883', brokerSharedGroup: 'a/b', brokerRejectUnauthorized: 'no' },
    });
    expect(problems.join('\n')).toMatch(/brokerUrl \(flag --broker-url\): must not hold credentials/);
    expect(problems.join('\n')).toMatch(/brokerSharedGroup \(flag --broker-shared-group\): expected 1-64 characters/);
    expect(problems.join('\n')).toMatch(/brokerRejectUnauthorized \(flag --broker-reject-unauthorized\): expected true or false/);
    expect(problemsOf({ flags: { brokerMode: 'external', brokerUrl: 'http://broker' } }).join('\n')).toMatch(/brokerUrl .*expected one of mqtt:\/\//);
    expect(problemsOf({ flags: { brokerUrl: 'mqtt://broker:1883' } })).toEqual([expect.stringMatching(/^brokerUrl \(flag --broker-url\): only used with brokerMode "external"/)]);
  });
});

describe('ExternalBroker', () => {
  const options = { url: 'mqtts://broker.example:8883', clientId: 'pdm-controller', rejectUnauthorized: true, sessionExpirySec: 60 };

  it('reads the password and TLS files at start and hands them to the link with MQTT 5 and the session expiry', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = (name: string, text: string) => { const f = join(dir.path, name); writeFileSync(f, text); return f; };
    const broker = new ExternalBroker({
      ...options, username: 'ctl', passwordFile: file('pw', 's3cret\n'), caFile: file('ca.pem', 'CA'), certFile: file('c.pem', 'CERT'),
      keyFile: file('k.pem', 'KEY'), sharedGroup: 'pdm',
    }, log);
    expect(() => broker.linkOptions()).toThrow(/not started/);
    await broker.start();
    const link = broker.linkOptions();
    expect(link).toMatchObject({ url: options.url, clientId: 'pdm-controller', username: 'ctl', password: 's3cret', protocolVersion: 5, sessionExpirySec: 60, sharedGroup: 'pdm' });
    expect(link.tls?.ca?.toString()).toBe('CA');
    expect(link.tls?.cert?.toString()).toBe('CERT');
    expect(link.tls?.key?.toString()).toBe('KEY');
    expect(broker.ports).toBeUndefined();
    expect(broker.stats()).toBeUndefined();
    expect(await broker.disconnect('gw-1')).toBe(false);
  });

  it('fails to start naming the file it cannot read', async () => {
    const broker = new ExternalBroker({ ...options, caFile: '/nonexistent/ca.pem' }, log);
    await expect(broker.start()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: 'brokerCaFile: cannot be read', context: { errno: 'ENOENT' } });
  });
});

describe('sharedFilter', () => {
  it('shares the upstream filters of a group, except replies, which each instance needs whole', () => {
    expect(sharedFilter('pdm/v1/+/up/predictions', 'pdm')).toBe('$share/pdm/pdm/v1/+/up/predictions');
    expect(sharedFilter('pdm/v1/+/up/status', 'pdm')).toBe('$share/pdm/pdm/v1/+/up/status');
    expect(sharedFilter('pdm/v1/+/up/reply', 'pdm')).toBe('pdm/v1/+/up/reply');
    expect(sharedFilter('pdm-internal/pdm-controller/flush', 'pdm')).toBe('pdm-internal/pdm-controller/flush');
    expect(sharedFilter('pdm/v1/+/up/predictions', undefined)).toBe('pdm/v1/+/up/predictions');
  });
});

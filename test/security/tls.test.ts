/**
 * Issue 8: the embedded broker's TLS listener, with a controller process and certificates made by
 * openssl for this run. With optional client certificates a device logs in over TLS either with its
 * password or with a certificate whose CN is its deviceId; a certificate naming another device, one
 * from another CA, or one of a revoked device is refused. With required client certificates a client
 * without one does not get past the handshake. A real agent, configured from what `enroll` printed,
 * delivers its records over mqtts:// with its certificate and no password.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigSchema } from '@pdm/agent';
import { leafCert, makeCerts, type TestCerts } from '../external-broker/certs.js';
import { azureAgentConfig, enrollDevice, startAgent, startController, writeJson, type ControllerHandle } from '../helpers/fleet.js';

const dir = mkdtempSync(join(tmpdir(), 'pdm-security-tls-'));
let certs: TestCerts;
const cert = (name: string) => ({ cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}.key`)) });

beforeAll(() => {
  certs = makeCerts(dir);
  leafCert(dir, 'gw-tls-1', 'gw-tls-1');
  leafCert(dir, 'gw-tls-2', 'gw-tls-2');
  leafCert(dir, 'gw-tls-stranger', 'gw-tls-1', 'extendedKeyUsage=clientAuth', 'other-ca');
  leafCert(dir, 'gw-agent', 'gw-agent');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function tlsController(name: string, clientCerts: 'optional' | 'required'): Promise<ControllerHandle> {
  return startController({
    dataDir: join(dir, name), logFile: join(dir, `${name}.log`),
    extraArgs: ['--mqtts-port', '0', '--tls-cert-file', certs.serverCertFile, '--tls-key-file', certs.serverKeyFile,
      '--tls-ca-file', certs.caFile, '--tls-client-certs', clientCerts],
  });
}

/** undefined when connected (and then closed), else the CONNACK code or the TLS error code. */
async function attempt(url: string, options: IClientOptions): Promise<number | string | undefined> {
  try {
    const c = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, ca: readFileSync(certs.caFile), ...options });
    await c.endAsync(true);
    return undefined;
  } catch (err) {
    return (err as { code?: number | string }).code ?? String(err);
  }
}

describe('TLS with optional client certificates', () => {
  let controller: ControllerHandle;
  let mqtts: string;
  const passwords = new Map<string, string>();

  beforeAll(async () => {
    controller = await tlsController('optional', 'optional');
    mqtts = `mqtts://127.0.0.1:${Number(controller.ready['mqttsPort'])}`;
    for (const id of ['gw-tls-1', 'gw-tls-2', 'gw-agent']) passwords.set(id, (await enrollDevice(controller.httpUrl, controller.adminToken(), id)).password);
  });
  afterAll(async () => controller?.stop());

  it('takes a password over TLS, or a certificate with the deviceId as CN instead', async () => {
    expect(await attempt(mqtts, { clientId: 'gw-tls-1', username: 'gw-tls-1', password: passwords.get('gw-tls-1') }), 'password').toBeUndefined();
    expect(await attempt(mqtts, { clientId: 'gw-tls-1' }), 'nothing').toBe(5);
    expect(await attempt(mqtts, { clientId: 'gw-tls-1', ...cert('gw-tls-1') }), 'own certificate').toBeUndefined();
    expect(await attempt(mqtts, { clientId: 'gw-tls-1', ...cert('gw-tls-2') }), 'another device\'s certificate').toBe(5);
    // a certificate beats a password: B's certificate with A's password is still B's identity, refused as A
    expect(await attempt(mqtts, { clientId: 'gw-tls-1', username: 'gw-tls-1', password: passwords.get('gw-tls-1'), ...cert('gw-tls-2') })).toBe(5);
    expect(await attempt(mqtts, { clientId: 'gw-tls-1', ...cert('gw-tls-stranger') }), 'CN right, CA wrong').toBe(5);
    // the server's certificate is checked too: a client trusting another CA refuses it
    expect(await attempt(mqtts, { clientId: 'gw-tls-1', ...cert('gw-tls-1'), ca: readFileSync(certs.otherCaFile) })).toMatch(/CERT|SIGNATURE|SELF_SIGNED|UNABLE/);
  });

  it('refuses the certificate of a revoked device', async () => {
    const res = await fetch(`${controller.httpUrl}/api/v1/devices/gw-tls-2/revoke`, {
      method: 'POST', headers: { authorization: `Bearer ${controller.adminToken()}`, 'content-type': 'application/json' }, body: '{}',
    });
    expect(res.status).toBe(200);
    expect(await attempt(mqtts, { clientId: 'gw-tls-2', ...cert('gw-tls-2') })).toBe(5);
  });

  it('runs an agent configured from what enroll printed, over mqtts:// with its certificate and no password', { timeout: 90_000 }, async () => {
    const issued = await fetch(`${controller.httpUrl}/api/v1/devices/gw-agent/reissue`, {
      method: 'POST', headers: { authorization: `Bearer ${controller.adminToken()}`, 'content-type': 'application/json' }, body: '{}',
    }).then((r) => r.json() as Promise<{ agentConfig: { brokerUrl: string; link: Record<string, string> } & Record<string, unknown> }>);
    expect(issued.agentConfig.brokerUrl).toBe(mqtts);
    expect(issued.agentConfig.link.caFile).toBeDefined();
    const dataDir = join(dir, 'gw-agent-data');
    mkdirSync(dataDir, { recursive: true });
    const { model, source, heartbeatSeconds, exitWhenDone } = azureAgentConfig({ deviceId: 'gw-agent', machineId: 5, brokerUrl: mqtts, dataDir, maxRows: 24 });
    const { passwordFile: _hint, ...link } = issued.agentConfig.link;
    const config = {
      ...issued.agentConfig, dataDir, model, source, heartbeatSeconds, exitWhenDone,
      link: { ...link, caFile: certs.caFile, certFile: join(dir, 'gw-agent.pem'), keyFile: join(dir, 'gw-agent.key') },
    };
    expect(agentConfigSchema.safeParse(config).success).toBe(true);
    const agent = startAgent('gw-agent', writeJson(join(dir, 'gw-agent.json'), config), { logFile: join(dir, 'gw-agent.log') });
    const done = await agent.waitFor('agent done', 60_000);
    expect((await agent.exited).code).toBe(0);
    const lastSeq = Number(done['lastSeq']);
    expect(lastSeq).toBeGreaterThan(0);
    const view = await controller.get<{ device: { seq: { contiguous: number } } }>('/api/v1/devices/gw-agent');
    expect(view.device.seq.contiguous).toBe(lastSeq);
  });
});

describe('TLS with required client certificates', () => {
  let controller: ControllerHandle;

  beforeAll(async () => {
    controller = await tlsController('required', 'required');
    await enrollDevice(controller.httpUrl, controller.adminToken(), 'gw-tls-1');
  });
  afterAll(async () => controller?.stop());

  it('refuses a client without a certificate in the handshake, and lets a device in with its own', async () => {
    const mqtts = `mqtts://127.0.0.1:${Number(controller.ready['mqttsPort'])}`;
    const bare = await attempt(mqtts, { clientId: 'gw-tls-1', username: 'gw-tls-1', password: 'whatever' });
    // a TLS error (a string code), not a CONNACK (a number): the MQTT layer never saw the client
    expect(typeof bare, String(bare)).toBe('string');
    expect(await attempt(mqtts, { clientId: 'gw-tls-1', ...cert('gw-tls-1') })).toBeUndefined();
    // the plain TCP listener still wants the password
    expect(await attempt(controller.mqttUrl, { clientId: 'gw-tls-1' })).toBe(5);
  });
});

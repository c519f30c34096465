/**
 * Issue 7, scale-out: two controller processes share one SQLite file and the fleet's traffic through
 * MQTT 5 shared subscriptions on Debian's Mosquitto, with three agent processes. Every record is stored
 * once, both instances take a share, exactly one holds the leader lease, and when the leader stops the
 * other takes over.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, type ParsedExposition } from '@pdm/controller';
import { startAzureAgent, startController, type ControllerHandle } from '../helpers/fleet.js';
import type { LogLine, Program } from '../helpers/process.js';
import { startMosquitto, type Mosquitto } from './mosquitto.js';
import { devicesOf, until } from './poll.js';

const ROWS = 400;
const DEVICES = ['gw-s1', 'gw-s2', 'gw-s3'];

describe('two controllers sharing ingestion through shared subscriptions', () => {
  let dir: string;
  let broker: Mosquitto;
  const controllers: ControllerHandle[] = [];
  const agents = new Map<string, Program>();

  const startInstance = (n: number) => startController({
    dataDir: join(dir, 'controller'), logFile: join(dir, `controller-${n}.log`),
    extraArgs: ['--broker-mode', 'external', '--broker-url', broker.url, '--broker-client-id', `pdm-controller-${n}`,
      '--broker-shared-group', 'pdm', '--leader-lease-sec', '3'],
  });
  const scrape = async (c: ControllerHandle): Promise<ParsedExposition> => parseExposition(await (await fetch(`${c.httpUrl}/metrics`)).text());

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pdm-e2e-scale-out-'));
    broker = await startMosquitto({ dir });
    // one after the other: migrations run at start (controller/README.md, "Scale-out")
    controllers.push(await startInstance(1));
    controllers.push(await startInstance(2));
    DEVICES.forEach((deviceId, i) => {
      agents.set(deviceId, startAzureAgent({
        deviceId, machineId: i + 1, brokerUrl: broker.url, dataDir: join(dir, deviceId),
        maxRows: ROWS, exitWhenDone: false, heartbeatSeconds: 1, logFile: join(dir, `${deviceId}.log`),
      }));
    });
  });

  afterAll(async () => {
    for (const a of agents.values()) await a.stop('SIGKILL');
    for (const c of controllers) await c.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores every record of three agents once, with both instances taking a share', async () => {
    for (const a of agents.values()) await a.waitFor('source delivered', 120_000);
    const done = new Map<string, LogLine>();
    for (const [id, a] of agents) {
      expect((await a.stop('SIGTERM')).code, `${id} exit code`).toBe(0);
      done.set(id, await a.waitFor('agent stopped', 1000));
    }
    // the clean-stop statuses are shared too: either instance may store them; both read the one database
    const after = await until('all devices offline', async () => {
      const d = await devicesOf(controllers[1]!);
      return DEVICES.every((id) => d.get(id)?.state === 'offline') ? d : undefined;
    });
    expect(await devicesOf(controllers[0]!)).toEqual(after);
    let records = 0;
    for (const [id, line] of done) {
      const lastSeq = Number(line['lastSeq']);
      expect(lastSeq).toBeGreaterThan(10);
      expect(Number(line['outboxDepth'])).toBe(0);
      expect(after.get(id)!.seq, id).toMatchObject({ contiguous: lastSeq, max: lastSeq, stored: lastSeq, missing: 0 });
      records += lastSeq;
    }

    const [m1, m2] = [await scrape(controllers[0]!), await scrape(controllers[1]!)];
    const handled = (m: ParsedExposition) => m.value('pdm_link_messages_total', { kind: 'predictions', outcome: 'handled' }) ?? 0;
    expect(handled(m1)).toBeGreaterThan(0);
    expect(handled(m2)).toBeGreaterThan(0);
    // each prediction message went to one instance: what they handled is what was stored, plus any resends
    const stored = m1.value('pdm_ingest_records_stored_total', { kind: 'predictions' })!;
    const duplicates = m1.value('pdm_ingest_duplicates_total', { kind: 'predictions' })!;
    expect(handled(m1) + handled(m2)).toBe(stored + duplicates);
    expect(m1.value('pdm_ingest_records_stored_total')).toBe(records);
    // database metrics are the same seen from either instance
    expect(m2.value('pdm_ingest_records_stored_total')).toBe(records);
    // two writers on one SQLite file: they waited for each other (busy_timeout), nothing failed
    for (const c of controllers) expect(c.program.errors()).toEqual([]);
    expect(m1.value('pdm_link_messages_total', { outcome: 'failed' }) ?? 0).toBe(0);
    expect(m2.value('pdm_link_messages_total', { outcome: 'failed' }) ?? 0).toBe(0);
  });

  it('has exactly one leader, and the other instance takes over when it stops', async () => {
    const leaders = await Promise.all(controllers.map(async (c) => (await scrape(c)).value('pdm_cluster_leader')));
    expect(leaders.sort()).toEqual([0, 1]);
    expect((await scrape(controllers[0]!)).value('pdm_cluster_members')).toBe(2);

    const leaderIndex = (await scrape(controllers[0]!)).value('pdm_cluster_leader') === 1 ? 0 : 1;
    const [leader, other] = [controllers[leaderIndex]!, controllers[1 - leaderIndex]!];
    const acquired = () => other.program.lines.filter((l) => l.msg === 'leadership acquired').length;
    expect(acquired()).toBe(0);
    expect((await leader.program.stop('SIGTERM')).code).toBe(0);
    // it left the shared group (another instance remains) and released the lease
    expect(leader.program.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['left the cluster', 'left the shared subscription group']));
    await until('the other instance leads', async () => ((await scrape(other)).value('pdm_cluster_leader') === 1 ? true : undefined), 10_000);
    expect(acquired()).toBe(1);
    expect((await scrape(other)).value('pdm_cluster_members')).toBe(1);
  });
});

/**
 * Issue 4, the kill -9 loop: a supervisor starts a real agent process (Azure PdM replay, reference
 * model, SQLite outbox) against a real controller process, SIGKILLs it at a random moment, checks the
 * outbox file (integrity_check, seqs never going back), and starts it again. A last run replays a few
 * rows and exits once everything is acknowledged. Then every seq the agent ever committed must be
 * stored at the controller exactly once: contiguous seq = stored rows = the outbox's last_seq, no gap,
 * no conflict (a seq reused with other bytes).
 *
 * `npm test` runs PDM_SOAK_CYCLES=10 by default; `npm run test:soak` runs 200 and prints the counts.
 * PDM_SOAK_SEED repeats a run's kill moments.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startController, type ControllerHandle } from '../helpers/fleet.js';
import type { Program } from '../helpers/process.js';
import { OUTBOX, agentConfig, deviceDetail, readOutbox, runAgent, seededRandom, until, type IngestTotals } from './support.js';

const cycles = Number(process.env['PDM_SOAK_CYCLES'] ?? 10);
const seed = Number(process.env['PDM_SOAK_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const deviceId = 'gw-kill';

describe('kill -9 loop on a producing, delivering agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdm-kill-loop-'));
  const dataDir = join(dir, 'agent');
  let controller: ControllerHandle | undefined;
  let agent: Program | undefined;

  afterAll(async () => {
    await agent?.stop('SIGKILL');
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`delivers every committed record exactly once across ${cycles} SIGKILLs (seed ${seed})`, { timeout: 60_000 + cycles * 6_000 }, async () => {
    const testStarted = Date.now();
    controller = await startController({ dataDir: join(dir, 'controller'), logFile: join(dir, 'controller.log') });
    const random = seededRandom(seed);
    const passwordFile = await controller.enroll(deviceId);
    const config = (last: boolean) => agentConfig(
      {
        deviceId, machineId: 2, brokerUrl: controller!.mqttUrl, dataDir, heartbeatSeconds: 1, passwordFile,
        // paced at 200 data hours a second: one commit per reading, so kills land mid-transaction
        speed: last ? 'max' : 720_000, exitWhenDone: last, ...(last ? { maxRows: 50 } : {}),
      },
      { forwarder: { maxInFlight: 32, drainRatePerSecond: 5_000 }, link: { reconnectInitialMs: 50, reconnectMaxMs: 200 } },
    );
    const counts = { killedStarting: 0, killedReplaying: 0, killedAfterReplay: 0, killedConnected: 0 };
    let highWater = 0;
    for (let i = 0; i < cycles; i++) {
      agent = runAgent(dir, 'agent', config(false));
      // most kills land while it replays and delivers; some during start-up (opening the outbox, loading the model)
      if (random() < 0.8) await agent.waitFor('replay started', 30_000);
      await new Promise((resolve) => setTimeout(resolve, random() * 1_500));
      const started = agent.lines.some((l) => l.msg === 'replay started');
      const replayed = agent.lines.some((l) => l.msg === 'replay finished');
      if (agent.lines.some((l) => l.msg === 'link up')) counts.killedConnected++;
      agent.kill('SIGKILL');
      const exit = await agent.exited;
      expect(exit.signal, `cycle ${i} ended by itself`).toBe('SIGKILL');
      counts[!started ? 'killedStarting' : replayed ? 'killedAfterReplay' : 'killedReplaying']++;
      if (!existsSync(join(dataDir, OUTBOX))) continue;
      const outbox = readOutbox(dataDir);
      expect(outbox.integrity, `integrity_check after kill ${i}`).toBe('ok');
      expect(outbox.lastSeq, `seqs went back after kill ${i}`).toBeGreaterThanOrEqual(highWater);
      highWater = outbox.lastSeq;
    }

    agent = runAgent(dir, 'agent', config(true));
    const done = await agent.waitFor('agent done', 60_000);
    expect((await agent.exited).code).toBe(0);
    const outbox = readOutbox(dataDir);
    // with room on disk the runs stored their restart state: the resume point is dated by one of this test's commits
    expect(outbox).toEqual({ lastSeq: done['lastSeq'], depth: 0, integrity: 'ok', dropped: {}, statesStoredAt: expect.any(Number) });
    expect(outbox.statesStoredAt).toBeGreaterThanOrEqual(testStarted);
    expect(outbox.statesStoredAt).toBeLessThanOrEqual(Date.now());
    const committed = outbox.lastSeq;
    expect(committed).toBeGreaterThan(highWater);

    const detail = await until('every seq stored', async () => {
      const d = await deviceDetail(controller!, deviceId);
      return d.device.seq.max >= committed ? d : undefined;
    });
    expect(detail.device.seq).toEqual({ contiguous: committed, max: committed, stored: committed, missing: 0, behind: 0 });
    expect(detail.device.delivery.lastDeliveredSeq).toBe(committed);
    expect(detail.seqGaps).toEqual({ gaps: [], truncated: false });
    const records = Object.values(detail.stored.records).reduce((n, c) => n + c, 0);
    expect(records).toBe(committed);
    const totals = await controller.get<IngestTotals>('/api/v1/ingest');
    expect(totals.conflicts).toBe(0);
    console.log(JSON.stringify({
      soak: 'kill-loop', cycles, seed, ...counts, committedSeqs: committed, storedAtController: detail.device.seq.stored,
      contiguous: detail.device.seq.contiguous, duplicatesDropped: totals.duplicates, conflicts: totals.conflicts, integrity: outbox.integrity,
    }));
  });
});

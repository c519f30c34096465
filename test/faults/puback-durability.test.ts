/**
 * A PUBACK from the embedded broker means the record is stored: a real controller process (embedded
 * aedes, SQLite) takes QoS 1 records from a device that behaves like an agent's outbox (a window of
 * unacknowledged publishes; what was acknowledged is forgotten, the rest is sent again after a
 * reconnect), and is SIGKILLed right after some PUBACKs. Restarted on the same database, it must hold
 * every record the device saw acknowledged; at the end every record is stored exactly once.
 *
 * Before ingest took device publishes in aedes' authorizePublish hook, aedes wrote the PUBACK before
 * it delivered the message to the controller's own subscription, so a kill lost records that were
 * already acknowledged (and so deleted from the device's outbox).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { encodePayload, upTopic, type PredictionBatch } from '@pdm/protocol';
import { startController, type ControllerHandle } from '../helpers/fleet.js';

const deviceId = 'gw-acked';
const TOTAL = 4000;
const WINDOW = 64;
/** Kills, each after this many PUBACKs in its cycle (different moments of the backlog). */
const KILL_AFTER = [150, 400, 900];

function record(seq: number): Buffer {
  const at = Date.UTC(2026, 0, 1) + seq * 60_000;
  const batch: PredictionBatch = {
    deviceId, seq, time: new Date(at).toISOString(), assetId: 'asset-1', model: { name: 'm', version: '1.0.0' }, role: 'active',
    threshold: 0.5, predictions: [0, 1, 2, 3].map((k) => ({ t: new Date(at - k * 1000).toISOString(), score: ((seq + k) % 100) / 100, alert: false })),
  };
  return encodePayload('predictions', batch);
}

/**
 * Sends `seqs` in order with at most WINDOW unacknowledged, adding each acknowledged seq to `acked`;
 * after `killAfter` acknowledgements calls `kill` and stops sending. Resolves on the kill or the last ack.
 */
function publish(client: MqttClient, seqs: readonly number[], acked: Set<number>, killAfter: number | undefined, kill: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let inFlight = 0;
    let acks = 0;
    let killed = false;
    const send = (): void => {
      while (!killed && inFlight < WINDOW && next < seqs.length) {
        const seq = seqs[next++]!;
        inFlight += 1;
        client.publish(upTopic(deviceId, 'predictions'), record(seq), { qos: 1 }, (err) => {
          inFlight -= 1;
          // after the kill the client is ended: what was never acknowledged fails, and stays in the "outbox"
          if (err !== undefined && err !== null) return killed ? undefined : reject(err);
          acked.add(seq);
          acks += 1;
          if (!killed && killAfter !== undefined && acks >= killAfter) {
            killed = true;
            kill();
            resolve();
            return;
          }
          if (next >= seqs.length && inFlight === 0) resolve();
          send();
        });
      }
    };
    send();
  });
}

/** What the controller's database holds for the device (read beside the running controller, as committed). */
function storedSeqs(dataDir: string): { seqs: Set<number>; integrity: string; progress: unknown } {
  const db = new BetterSqlite(join(dataDir, 'controller.db'), { readonly: true, fileMustExist: true });
  try {
    const seqs = db.prepare('SELECT seq FROM records WHERE device_id = ?').pluck().all(deviceId) as number[];
    const progress = db.prepare('SELECT contiguous_seq AS contiguous, max_seq AS max, stored FROM record_progress WHERE device_id = ?').get(deviceId);
    return { seqs: new Set(seqs), integrity: db.prepare('PRAGMA integrity_check').pluck().get() as string, progress };
  } finally {
    db.close();
  }
}

describe('controller SIGKILL after PUBACKs (embedded broker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdm-puback-'));
  const dataDir = join(dir, 'controller');
  let controller: ControllerHandle | undefined;

  afterAll(async () => {
    await controller?.program.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = () => startController({ dataDir, extraArgs: ['--device-auth', 'none'], logFile: join(dir, 'controller.log') });

  it('keeps every record the device saw acknowledged, and stores each once', { timeout: 150_000 }, async () => {
    const acked = new Set<number>();
    const unacked = () => Array.from({ length: TOTAL }, (_, i) => i + 1).filter((seq) => !acked.has(seq));
    controller = await start();
    for (const [cycle, killAfter] of KILL_AFTER.entries()) {
      const running = controller;
      const client = await mqtt.connectAsync(running.mqttUrl, { clientId: deviceId, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
      const before = acked.size;
      await publish(client, unacked(), acked, killAfter, () => running.program.kill('SIGKILL'));
      expect((await running.program.exited).signal).toBe('SIGKILL');
      // PUBACKs that were on their way when the kill landed count too: the controller sent them
      await client.endAsync(true);
      expect(acked.size - before, `cycle ${cycle}`).toBeGreaterThanOrEqual(killAfter);

      controller = await start();
      const stored = storedSeqs(dataDir);
      expect(stored.integrity).toBe('ok');
      const lost = [...acked].filter((seq) => !stored.seqs.has(seq)).sort((a, b) => a - b);
      expect(lost, `acknowledged but not stored after kill ${cycle}`).toEqual([]);
    }

    const client = await mqtt.connectAsync(controller.mqttUrl, { clientId: deviceId, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
    await publish(client, unacked(), acked, undefined, () => undefined);
    await client.endAsync();
    expect(acked.size).toBe(TOTAL);
    const stored = storedSeqs(dataDir);
    expect(stored.seqs.size).toBe(TOTAL);
    expect(stored.progress).toEqual({ contiguous: TOTAL, max: TOTAL, stored: TOTAL });
  });
});

import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { encodePayload, upTopic } from '@pdm/protocol';
import { connectDevice } from './testing/device-client.js';
import * as fx from './testing/fixtures.js';
import { startTestController } from './testing/harness.js';
import { tempDir } from './testing/temp-dir.js';

describe('ControllerApp', () => {
  it('reports the real ports it listens on', async () => {
    const tc = await startTestController();
    try {
      const ready = tc.app.ready();
      expect(ready).toMatchObject({ host: '127.0.0.1', brokerMode: 'embedded', dataDir: tc.config.dataDir, version: '0.1.0' });
      for (const port of [ready.httpPort, ready.mqttPort, ready.wsPort]) expect(port).toBeGreaterThan(0);
      expect(new Set([ready.httpPort, ready.mqttPort, ready.wsPort]).size).toBe(3);
      const res = await fetch(`http://127.0.0.1:${ready.httpPort}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        status: 'ok', checks: { broker: { ok: true }, link: { ok: true }, db: { ok: true }, ingest: { ok: true } },
      });
    } finally {
      await tc.stop();
    }
  });

  it('loses no acknowledged record when stopped while a device is publishing', async () => {
    const dir = tempDir();
    const tc = await startTestController({ dataDir: dir.path });
    const device = await connectDevice(tc.mqttUrl, 'gw-stop', { withWill: false });
    device.client.on('error', () => { /* the controller going away is the point of this test */ });
    const acked: number[] = [];
    // a QoS 1 publish in flight when the connection drops never settles (it waits for a resend)
    let open = true;
    device.client.once('close', () => { open = false; });
    const closed = new Promise<void>((resolve) => device.client.once('close', () => resolve()));
    // up to 100 publishes in flight at once, so that the broker holds many unprocessed records at the stop
    const publishing = (async () => {
      const inFlight = new Set<Promise<void>>();
      for (let seq = 1; seq <= 20_000 && open; seq += 1) {
        const bytes = encodePayload('events', fx.event('gw-stop', seq));
        const p: Promise<void> = device.client.publishAsync(upTopic('gw-stop', 'events'), bytes, { qos: 1 })
          .then(() => { if (open) acked.push(seq); }, () => undefined)
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= 100) await Promise.race([...inFlight, closed]);
      }
    })();
    while (acked.length < 200) await new Promise((resolve) => setImmediate(resolve));
    await tc.stop();
    await publishing;
    await device.end();

    const db = new BetterSqlite3(join(dir.path, 'controller.db'), { readonly: true });
    const stored = new Set(db.prepare("SELECT seq FROM records WHERE device_id = 'gw-stop'").pluck().all() as number[]);
    db.close();
    dir.remove();
    expect(acked.length).toBeGreaterThanOrEqual(200);
    expect(acked.length).toBeLessThan(20_000);
    expect(acked.filter((seq) => !stored.has(seq))).toEqual([]);
  });
});

/**
 * Group commit in ingest on a whole controller (real SQLite file, real aedes): what one batch does with
 * valid, duplicate, invalid and poison members, and that nothing is acknowledged before it is committed,
 * seen from a second connection to the database file as a restarted controller would see it.
 */
import { join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { connectAsync } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePayload, parseTopic, upTopic, type RecordKind } from '@pdm/protocol';
import { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import { RecordsRepo } from '../db/records-repo.js';
import * as fx from '../testing/fixtures.js';
import { startTestController, type TestController } from '../testing/harness.js';
import { MAX_ATTEMPTS } from './ingest.js';

let tc: TestController | undefined;
let reader: BetterSqlite.Database | undefined;
afterEach(async () => {
  reader?.close();
  reader = undefined;
  await tc?.stop();
  tc = undefined;
});

/** A second connection to the controller's database file: sees only what is committed. */
function openReader(t: TestController): (deviceId: string, seq: number) => boolean {
  reader = new BetterSqlite(join(t.config.dataDir, 'controller.db'), { readonly: true, fileMustExist: true });
  const get = reader.prepare('SELECT COUNT(*) FROM records WHERE device_id = ? AND seq = ?').pluck();
  return (deviceId, seq) => (get.get(deviceId, seq) as number) === 1;
}

const message = (deviceId: string, kind: RecordKind, payload: Buffer) => ({ topic: upTopic(deviceId, kind), parsed: parseTopic(upTopic(deviceId, kind)), payload, retain: false });

describe('ingest group commit', () => {
  it('stores a mixed batch in one go: duplicates counted, invalid refused, the poison member alone fails', async () => {
    tc = await startTestController();
    const app = tc.app;
    const committed = openReader(tc);
    const heard: number[] = [];
    app.ingest.on('predictions', (p) => {
      // listeners run after the commit: a restarted controller would find the record
      expect(committed('mx', p.seq)).toBe(true);
      heard.push(p.seq);
    });
    const pred1 = encodePayload('predictions', fx.predictions('mx', 1, 2));
    await app.ingest.handle(message('mx', 'predictions', pred1));

    app.database.handle.exec('ALTER TABLE alerts RENAME TO alerts_away');
    try {
      const pred2 = encodePayload('predictions', fx.predictions('mx', 2, 2));
      const batch = [
        message('mx', 'predictions', pred1), // stored before: a duplicate
        message('mx', 'predictions', pred2),
        message('mx', 'events', Buffer.from('not json')),
        message('mx', 'alerts', encodePayload('alerts', fx.alert('mx', 3))), // poison: its table is gone
        message('mx', 'metrics', encodePayload('metrics', fx.metrics('mx', 4))),
        message('mx', 'predictions', pred2), // a duplicate of a member of the same batch
      ];
      const seenAtAck: boolean[] = [];
      const results = await Promise.allSettled(batch.map((m, i) => {
        const done = app.ingest.handle(m);
        return done.then(() => { seenAtAck[i] = m.topic.endsWith('events') || committed('mx', [1, 2, 0, 3, 4, 2][i]!); });
      }));
      // nothing was written while the batch was being taken in, everything acknowledged was committed first
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect(seenAtAck).toEqual([true, true, true, undefined, true, true]);
      expect(tc.lines.filter((l) => l.msg === 'batch not stored whole; its messages were stored one by one').map((l) => l.messages)).toEqual([6]);

      // the poison message keeps failing on its own and is given up after MAX_ATTEMPTS, counted as INTERNAL
      const poison = batch[3]!;
      for (let attempt = 2; attempt < MAX_ATTEMPTS; attempt += 1) await expect(app.ingest.handle(poison)).rejects.toThrow();
      await expect(app.ingest.handle(poison)).resolves.toBeUndefined();
    } finally {
      app.database.handle.exec('ALTER TABLE alerts_away RENAME TO alerts');
    }
    app.ingest.flushPending();

    expect(heard).toEqual([1, 2]);
    const totals = new IngestStatsRepo(app.database.handle).totals();
    expect(totals.byKind.predictions).toMatchObject({ accepted: 4, stored: 2, duplicates: 2, conflicts: 0 });
    expect(totals.byKind.metrics).toMatchObject({ accepted: 1, stored: 1 });
    expect(new IngestStatsRepo(app.database.handle).invalidForDevice('mx').byCode).toEqual({ PAYLOAD_NOT_JSON: 1, INTERNAL: 1 });
    expect(new RecordsRepo(app.database.handle).progress('mx')).toEqual({ contiguous: 2, max: 4, stored: 3, missing: 1 });
  });

  it('sends a device its PUBACK only once the record is committed', async () => {
    tc = await startTestController();
    const committed = openReader(tc);
    const device = await connectAsync(tc.mqttUrl, { clientId: 'acked', protocolVersion: 4, clean: true, reconnectPeriod: 0 });
    try {
      // 200 publishes in flight at once, as an agent's outbox drains: they arrive in batches
      const notYet = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
        const seq = i + 1;
        await device.publishAsync(upTopic('acked', 'predictions'), encodePayload('predictions', fx.predictions('acked', seq, 2)), { qos: 1 });
        return committed('acked', seq) ? [] : [seq];
      }));
      expect(notYet.flat()).toEqual([]);
    } finally {
      await device.endAsync(true);
    }
  });
});

/**
 * The seeded data of bench:reports (and bench:dashboard, which reads its cache): per device a daily metric
 * window and a daily quality window, ~1 failure, 2 maintenances and 3 downtime start/end pairs at random
 * times, stored through the controller's own store code (DevicesRepo, RecordsRepo, QualityRepo).
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { seededRandom } from '@pdm/models';
import { PdmError, type MachineEvent, type MetricWindow, type QualityWindow, type RecordKind, type RecordOf } from '@pdm/protocol';
import { Database } from '../../controller/dist/db/database.js';
import { DevicesRepo } from '../../controller/dist/db/devices-repo.js';
import { RecordsRepo } from '../../controller/dist/db/records-repo.js';
import { QualityRepo } from '../../controller/dist/quality/quality-repo.js';

export const DAY = 86_400_000;
/** The seeded data's first day. */
export const START = Date.parse('2026-08-01T00:00:00.000Z');
export const MODEL = { name: 'azure-pdm-failure-24h', version: '1.0.0' };
export const iso = (ms: number): string => new Date(ms).toISOString();


interface Draft {
  readonly kind: RecordKind;
  readonly record: RecordOf<RecordKind>;
}

function deviceRecords(deviceId: string, assetId: string, days: number, rnd: () => number): Draft[] {
  const out: Draft[] = [];
  let seq = 0;
  const header = (at: number) => ({ deviceId, seq: ++seq, time: iso(at) });
  const events: { at: number; type: MachineEvent['type']; component?: string; cause?: MachineEvent['cause'] }[] = [];
  const span = days * DAY;
  const at = () => START + Math.floor(rnd() * span);
  if (rnd() < 0.9) events.push({ at: at(), type: 'failure', component: `comp${1 + Math.floor(rnd() * 4)}` });
  for (let i = 0; i < 2; i++) events.push({ at: at(), type: 'maintenance', component: `comp${1 + Math.floor(rnd() * 4)}` });
  for (let i = 0; i < 3; i++) {
    const s = at();
    events.push({ at: s, type: 'downtime-start', cause: rnd() < 0.6 ? 'unplanned' : 'planned' }, { at: s + Math.floor((0.5 + rnd() * 8) * 3_600_000), type: 'downtime-end' });
  }
  events.sort((a, b) => a.at - b.at);
  let e = 0;
  for (let d = 0; d < days; d++) {
    const from = START + d * DAY;
    const to = from + DAY;
    for (; e < events.length && events[e]!.at < to; e++) {
      const ev = events[e]!;
      const record: MachineEvent = { ...header(ev.at), assetId, type: ev.type, at: iso(ev.at), source: 'sensor', ...(ev.component === undefined ? {} : { component: ev.component }), ...(ev.cause === undefined ? {} : { cause: ev.cause }) };
      out.push({ kind: 'events', record });
    }
    const metrics: MetricWindow = {
      ...header(to), assetId, windowStart: iso(from), windowEnd: iso(to), readings: 24, rejectedReadings: {}, inferences: 24, inferenceErrors: 0,
      alerts: rnd() < 0.05 ? 1 : 0, latencyMs: { p50: 0.1, p95: 0.2, max: 0.5 }, model: MODEL,
    };
    out.push({ kind: 'metrics', record: metrics });
    const failures = events.filter((x) => x.type === 'failure' && x.at >= from && x.at < to).length;
    const caught = failures > 0 && rnd() < 0.7 ? failures : 0;
    const quality: QualityWindow = {
      ...header(to), assetId, model: MODEL, role: 'active', windowStart: iso(from), windowEnd: iso(to), horizonHours: 24,
      confusion: { tp: caught * 3, fp: rnd() < 0.1 ? 2 : 0, tn: 20, fn: (failures - caught) * 3 },
      events: { caught, missed: failures - caught, falseAlarms: 0, leadHours: Array.from({ length: caught }, () => Math.round(rnd() * 24)) },
    };
    out.push({ kind: 'quality', record: quality });
  }
  return out;
}

/** Seeds `devices` devices x `days` days into a migrated database in `dataDir` through the controller's own store code. */
export async function seed(dataDir: string, devices: number, days: number): Promise<{ records: number; seconds: number; bytes: number }> {
  const t0 = Date.now();
  const database = new Database({ dataDir }, pino({ level: 'silent' }) as never);
  await database.start();
  const db = database.handle;
  const repo = new DevicesRepo(db);
  const records = new RecordsRepo(db);
  const quality = new QualityRepo(db);
  const rnd = seededRandom(9);
  let n = 0;
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const deviceId = `dev-${i}`;
      const assetId = `asset-${i}`;
      repo.applyStatus({
        deviceId, state: 'online', time: iso(START + days * DAY), agentVersion: '0.1.0', bootId: 'b', assetId, assetClass: `class-${i % 20}`, site: `site-${i % 12}`,
        models: [{ ...MODEL, role: 'active' }], lastSeq: 0,
      }, START + days * DAY, true);
      for (const d of deviceRecords(deviceId, assetId, days, rnd)) {
        const payload = JSON.stringify(d.record);
        const outcome = records.store(d.kind, d.record as never, createHash('sha256').update(payload).digest('hex'), Date.parse(d.record.time));
        if (outcome !== 'stored') throw new PdmError('INTERNAL', 'seed record not stored', { context: { deviceId, outcome } });
        if (d.kind === 'quality') quality.storeQuality(d.record as QualityWindow);
        n++;
      }
    }
  });
  for (let i = 0; i < devices; i += 100) {
    batch(i, Math.min(devices, i + 100));
    if (i % 1000 === 0) process.stderr.write(`[bench:reports] seeded ${i} devices (${n} records)\n`);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.exec('ANALYZE');
  await database.stop();
  return { records: n, seconds: (Date.now() - t0) / 1000, bytes: statSync(join(dataDir, 'controller.db')).size };
}

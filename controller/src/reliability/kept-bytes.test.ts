/**
 * What reports keep between renders as bytes (per-asset figure JSON, model-version entries) sits in
 * ArrayBuffers of its own, not in slices of Node's shared 8 KB pool slab, which one kept entry would pin
 * (kept-bytes.ts). Real SQLite file, real service parts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Database } from '../db/database.js';
import { RecordsRepo } from '../db/records-repo.js';
import { captureLogs } from '../testing/log-capture.js';
import { event, metrics } from '../testing/fixtures.js';
import { tempDir } from '../testing/temp-dir.js';
import { DowntimeState } from './downtime-state.js';
import { assetFiguresJson } from './figures.js';
import { keptBytes } from './kept-bytes.js';
import { ReliabilitySource } from './source.js';
import { VersionImpacts } from './version-impacts.js';

const log = captureLogs('silent').log;
const HOUR = 3_600_000;

let dir: ReturnType<typeof tempDir>;
let database: Database;

beforeEach(async () => {
  dir = tempDir();
  database = new Database({ dataDir: dir.path }, log);
  await database.start();
});
afterEach(async () => {
  await database.stop();
  dir.remove();
});

/** True when the bytes are the whole of their ArrayBuffer (a pool slice is 8192 bytes of buffer for a few of its own). */
const own = (bytes: Uint8Array): boolean => bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength;

describe('kept bytes', () => {
  it('are UTF-8 in an ArrayBuffer of their own', () => {
    const bytes = keptBytes('{"key":"pompe-\u00e9"}');
    expect(own(bytes)).toBe(true);
    expect(Buffer.from(bytes).toString('utf8')).toBe('{"key":"pompe-\u00e9"}');
  });

  it('hold the figure JSON and model-version entries a report keeps', () => {
    const records = new RecordsRepo(database.handle);
    database.handle.prepare(`INSERT INTO devices (device_id, asset_id, asset_class, site, first_seen_at, last_seen_at) VALUES ('d1', 'asset-d1', 'c', 's', 1, 1)`).run();
    records.store('metrics', metrics('d1', 1) as never, 'm1', 1000);
    records.store('metrics', metrics('d1', 5) as never, 'm5', 1000);
    records.store('events', event('d1', 3) as never, 'e3', 1000);
    const state = new DowntimeState({ failureHours: 8, maintenanceHours: 2 });
    const versions = new VersionImpacts();
    database.handle.transaction(() => {
      const source = new ReliabilitySource(database.handle);
      state.refresh(source);
      versions.refresh(source);
      const assets = state.assets({});
      const d = state.downtime(assets.map((a) => a.assetId));
      const range = state.dataRange(source, ['asset-d1'])!;
      const periods: [number, number][] = [[range.from, range.to], [range.from, range.from + HOUR]];
      const figures = assetFiguresJson(d, 'asset-d1', periods, (k) => (k === 0 ? undefined : '{"from":"x","to":"y",'));
      const entries = versions.section(assets, undefined, d, range);
      expect(figures.length).toBe(2);
      expect(entries.length).toBeGreaterThan(0);
      for (const bytes of [...figures, ...entries]) expect(own(bytes)).toBe(true);
    })();
  });
});

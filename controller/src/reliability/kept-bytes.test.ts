/**
 * What reports keep between renders as bytes (per-asset figure JSON, model-version entries) sits in slabs
 * of kept bytes only, not in Node's shared 8 KB pool slab, which one kept entry pinned together with a
 * render's transient parts (kept-bytes.ts). Real SQLite file, real service parts.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.js';
import { RecordsRepo } from '../db/records-repo.js';
import { captureLogs } from '../testing/log-capture.js';
import { event, metrics } from '../testing/fixtures.js';
import { testDatabase } from '../testing/test-database.js';
import { DowntimeState } from './downtime-state.js';
import { assetFiguresJson } from './figures.js';
import { ByteSlabs, KEPT_SLAB_BYTES, keptBytes } from './kept-bytes.js';
import { ReliabilitySource } from './source.js';
import { VersionImpacts } from './version-impacts.js';

const log = captureLogs('silent').log;
const HOUR = 3_600_000;

let database: Database;

beforeEach(async () => {
  database = await testDatabase({ log });
});

/** True when the bytes are in a slab of kept bytes (a pool slice's buffer is Node's 8 KB slab). */
const kept = (bytes: Uint8Array): boolean => bytes.buffer.byteLength === KEPT_SLAB_BYTES;

describe('kept bytes', () => {
  it('are UTF-8 in slabs that hold kept bytes only; a long text has its own buffer', () => {
    const a = keptBytes('{"key":"pompe-\u00e9"}');
    const transient = Buffer.from('{"key":"transient"}');
    const b = keptBytes('"\u{1F6E0}\uFFFF"');
    expect(Buffer.from(a).toString('utf8')).toBe('{"key":"pompe-\u00e9"}');
    expect(Buffer.from(b).toString('utf8')).toBe('"\u{1F6E0}\uFFFF"');
    expect(kept(a) && kept(b)).toBe(true);
    expect(a.buffer).toBe(b.buffer);
    expect(transient.buffer).not.toBe(a.buffer);
    const long = 'x'.repeat(10_000);
    const own = keptBytes(long);
    expect(own.buffer.byteLength).toBe(10_000);
    expect(own.buffer).not.toBe(a.buffer);
    expect(Buffer.from(own).toString('utf8')).toBe(long);
  });

  it('copy pieces one after the other into a slab, or into a buffer of their own past 8 KB', () => {
    const slabs = new ByteSlabs();
    const parts = (...texts: string[]) => texts.map((t) => Buffer.from(t));
    const short = slabs.copy(parts('{"a":1}', ',{"b":"\u00e9"}'));
    expect(Buffer.from(short).toString('utf8')).toBe('{"a":1},{"b":"\u00e9"}');
    expect(kept(short)).toBe(true);
    // 8,193 bytes: one more than a slab's eighth, so a buffer of exactly its size
    const long = slabs.copy(parts('x'.repeat(8_000), 'y'.repeat(193)));
    expect(long.buffer.byteLength).toBe(8_193);
    expect(long.byteOffset).toBe(0);
    expect(Buffer.from(long).toString('utf8')).toBe(`${'x'.repeat(8_000)}${'y'.repeat(193)}`);
    // exactly 8 KB still goes into the slab, right after the short piece
    const eighth = slabs.copy(parts('z'.repeat(8_192)));
    expect(eighth.buffer).toBe(short.buffer);
    expect(eighth.byteOffset).toBe(short.byteOffset + short.byteLength);
    expect(Buffer.from(eighth).toString('utf8')).toBe('z'.repeat(8_192));
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
      for (const bytes of [...figures, ...entries]) expect(kept(bytes)).toBe(true);
    })();
  });
});

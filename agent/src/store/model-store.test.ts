import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest } from '@pdm/protocol';
import { silentLogger } from '../testing/logger.js';
import type { CrashStep } from '../updates/faults.js';
import { artifactsOf, manifestFor, sha256Of } from '../updates/testing.js';
import { MANIFEST_FILE, ModelStore } from './model-store.js';
import { initialPointer, referencedDirs } from './pointer.js';

const root = mkdtempSync(join(tmpdir(), 'pdm-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const artifacts = new URL('../../../models/artifacts/azure-pdm-failure-24h/', import.meta.url).pathname;
const v100 = join(artifacts, '1.0.0');
const v110 = join(artifacts, '1.1.0-degraded');
let n = 0;

class Crash extends Error {}

function store(crashAt?: CrashStep): ModelStore {
  const s = new ModelStore({
    dir: join(root, `s${n++}`),
    log: silentLogger,
    crash: (step) => {
      if (step === crashAt) throw new Crash(step);
    },
  });
  s.start();
  return s;
}

/** Sources for a manifest straight from the model directory (as a finished download would be). */
const sourcesFrom = (dir: string) => new Map(['model.onnx', 'card.json'].map((f) => [f, join(dir, f)]));
const payloadOf = (m: Manifest) => Buffer.from(JSON.stringify(m));

describe('ModelStore', () => {
  it('installs a version directory with its artifacts and the exact verified manifest bytes, and reuses it', async () => {
    const s = store();
    const m = manifestFor(v100, { deviceId: 'd', release: 1 });
    const dir = await s.install(m, payloadOf(m), sourcesFrom(v100));
    expect(dir).toMatch(/^azure-pdm-failure-24h@1\.0\.0-[0-9a-f]{12}$/);
    expect(readdirSync(s.versionPath(dir)).sort()).toEqual(['card.json', MANIFEST_FILE, 'model.onnx']);
    expect(readFileSync(join(s.versionPath(dir), MANIFEST_FILE))).toEqual(payloadOf(m));
    expect(await s.verifyVersion(dir, m)).toEqual([]);
    // a higher release over the same bytes (rollback, promotion) is the same directory
    const again = { ...m, release: 2, mode: 'act' as const };
    expect(await s.install(again, payloadOf(again), new Map())).toBe(dir);
    expect(s.findLocal(m.artifacts[0]!)).toBe(join(s.versionPath(dir), 'model.onnx'));
  });

  it('rewrites a damaged version directory and refuses sources that do not hash right', async () => {
    const s = store();
    const m = manifestFor(v100, { deviceId: 'd', release: 1 });
    const dir = await s.install(m, payloadOf(m), sourcesFrom(v100));
    writeFileSync(join(s.versionPath(dir), 'card.json'), '{}');
    expect(await s.verifyVersion(dir, m)).toEqual(['card.json does not match the manifest']);
    expect(await s.install(m, payloadOf(m), sourcesFrom(v100))).toBe(dir);
    expect(await s.verifyVersion(dir, m)).toEqual([]);
    const mixed = new Map([['model.onnx', join(v100, 'model.onnx')], ['card.json', join(v110, 'card.json')]]);
    const m2 = manifestFor(v110, { deviceId: 'd', release: 2 });
    await expect(s.install(m2, payloadOf(m2), mixed)).rejects.toThrow(/model.onnx: local bytes no longer match/);
  });

  it('leaves nothing in versions/ when killed before the rename, and cleans the half-written directory at start', async () => {
    const s = store('after-write');
    const m = manifestFor(v100, { deviceId: 'd', release: 1 });
    await expect(s.install(m, payloadOf(m), sourcesFrom(v100))).rejects.toBeInstanceOf(Crash);
    expect(readdirSync(s.versionsDir)).toEqual([]);
    expect(readdirSync(join(s.versionsDir, '..', '.tmp'))).toHaveLength(1);
    s.start();
    expect(readdirSync(join(s.versionsDir, '..', '.tmp'))).toEqual([]);
  });

  it('keeps the newest N versions and every one the pointer names', async () => {
    const s = store();
    const dirs: string[] = [];
    for (let release = 1; release <= 5; release++) {
      // five distinct artifact sets: the same model with a different card each time
      const card = JSON.parse(readFileSync(join(v100, 'card.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(root, `card-${release}.json`), JSON.stringify({ ...card, description: `copy ${release}` }));
      const sources = new Map([['model.onnx', join(v100, 'model.onnx')], ['card.json', join(root, `card-${release}.json`)]]);
      const m = { ...manifestFor(v100, { deviceId: 'd', release }) };
      m.artifacts = m.artifacts.map((a) => (a.name === 'card.json' ? { ...a, ...artifactOf(join(root, `card-${release}.json`)) } : a));
      dirs.push(await s.install(m, payloadOf(m), sources));
    }
    const pointer = { ...initialPointer({ name: 'x', version: '1' }), previous: { kind: 'store' as const, dir: dirs[0]!, model: { name: 'x', version: '1' }, release: 1, mode: 'alert' as const, deploymentId: 'd1' } };
    const removed = s.prune(2, referencedDirs(pointer));
    expect(removed.sort()).toEqual([dirs[1], dirs[2]].sort());
    expect(readdirSync(s.versionsDir).sort()).toEqual([dirs[0], dirs[3], dirs[4]].sort());
    expect(existsSync(join(s.versionPath(dirs[4]!), 'model.onnx'))).toBe(true);
  });

  it('takes the artifact list of a real model directory', () => {
    const { artifacts: list, bytes } = artifactsOf(v100);
    expect(list.map((a) => a.name)).toEqual(['model.onnx', 'card.json']);
    expect(bytes.size).toBe(2);
  });
});

function artifactOf(file: string): { sha256: string; length: number } {
  const data = readFileSync(file);
  return { sha256: sha256Of(data), length: data.byteLength };
}

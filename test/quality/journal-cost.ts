/**
 * What the quality journal's trigger costs per prediction row on the commit path: SqliteOutbox commits
 * of prediction batches (synchronous NORMAL, as the agent's routine commits) into a file without the
 * journal and into one with it, alternating rounds so both see the same machine load. Not a test (no
 * timing in tests): run `npx tsx --conditions=pdm-source test/quality/journal-cost.ts [batchRows] [batches]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, FakeClock } from '@pdm/agent/testing';
import { SqliteOutbox } from '../../agent/src/outbox/sqlite-outbox.js';
import type { RecordDraft } from '../../agent/src/outbox/outbox.js';
import { QualityJournal } from '../../agent/src/quality/journal.js';

const batchRows = Number(process.argv[2] ?? 64);
const batches = Number(process.argv[3] ?? 2000);
const ROUNDS = 5;
const T0 = Date.parse('2015-01-01T00:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'pdm-journal-cost-'));

function batch(i: number): RecordDraft {
  const predictions = Array.from({ length: batchRows }, (_, r) => {
    const t = T0 + (i * batchRows + r) * 3_600_000;
    return { t: new Date(t).toISOString(), score: (r % 97) / 97, alert: r % 97 > 90 };
  });
  return {
    kind: 'predictions',
    record: {
      time: predictions[predictions.length - 1]!.t, assetId: 'machine-1', model: { name: 'm', version: '1.0.0' }, role: 'active',
      horizonHours: 24, threshold: 0.5, predictions,
    },
  };
}

const pruneUs: number[] = [];

/**
 * us per prediction row of `batches` commits into a fresh file, with or without the journal; with it,
 * also the prune that describes every row once (off the commit path, once per published window).
 */
function run(name: string, journal: boolean, drafts: readonly RecordDraft[]): number {
  const file = join(dir, `${name}.sqlite`);
  const outbox = new SqliteOutbox({ file, deviceId: 'dev', synchronous: 'NORMAL', clock: new FakeClock(), log: silentLogger });
  outbox.start();
  const j = new QualityJournal({ file, enabled: journal, log: silentLogger });
  j.start();
  const start = process.hrtime.bigint();
  for (const d of drafts) outbox.commit([d]);
  const us = Number(process.hrtime.bigint() - start) / 1000;
  if (journal) {
    const pruneStart = process.hrtime.bigint();
    j.prune({ keys: ['m\u00001.0.0\u0000active'], droppedThrough: {} });
    pruneUs.push(Number(process.hrtime.bigint() - pruneStart) / 1000 / (drafts.length * batchRows));
  }
  j.stop();
  outbox.stop();
  return us / (drafts.length * batchRows);
}

const drafts = Array.from({ length: batches }, (_, i) => batch(i));
const without: number[] = [];
const withJournal: number[] = [];
const load = loadavg().map((l) => l.toFixed(2)).join(' ');
for (let r = 0; r < ROUNDS; r++) {
  without.push(run(`without-${r}`, false, drafts));
  withJournal.push(run(`with-${r}`, true, drafts));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(JSON.stringify({
  date: new Date().toISOString(), loadavg: load, batchRows, batches, rounds: ROUNDS,
  usPerRowWithout: +median(without).toFixed(3), usPerRowWithJournal: +median(withJournal).toFixed(3),
  usPerRowJournal: +(median(withJournal) - median(without)).toFixed(3),
  usPerRowPrune: +median(pruneUs).toFixed(3),
  perRound: without.map((w, i) => +(withJournal[i]! - w).toFixed(3)),
}));
rmSync(dir, { recursive: true, force: true });

/**
 * Opening the outbox database, and setting a corrupt one aside. A database that SQLite cannot read
 * (not a database, a malformed page, quick_check failing) must not stop the agent from recording new
 * alerts and events: it is renamed with a timestamp, together with its WAL, and the caller starts a
 * fresh one. The old file is kept for a person to look at; what can still be read from it (its last
 * seq and how many records it held) is returned so seqs go on above it and the loss is counted.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync, statfsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import Database from 'better-sqlite3';
import { PdmError, isPdmError } from '@pdm/protocol';

export interface Salvage {
  /** meta.last_seq of the old file, when readable. */
  readonly lastSeq: number | undefined;
  /** Records still waiting in the old file, when readable. */
  readonly pending: number | undefined;
}

export interface Quarantined {
  readonly movedTo: string;
  readonly reason: string;
  readonly salvage: Salvage;
}

/** SQLite's "this file is damaged" results: SQLITE_CORRUPT (and its extended codes) and SQLITE_NOTADB. */
export function isCorruption(err: unknown): boolean {
  if (isPdmError(err, 'OUTBOX_FAILED') && err.context['corrupt'] === true) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

function corrupt(reason: string): PdmError {
  return new PdmError('OUTBOX_FAILED', 'outbox database is corrupt', { context: { corrupt: true, reason } });
}

/**
 * Opens `file` in WAL mode with the given pragmas and checks it with quick_check: O(size), paid once
 * per start, because a damaged page found later would fail a commit or a drain instead.
 */
export function openDatabase(file: string, pragmas: readonly string[]): Database.Database {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    for (const p of pragmas) db.pragma(p);
    const check = db.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok') throw corrupt(`quick_check: ${String(check)}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Renames the database and its WAL to `<file>.corrupt-<time>` and reads what it can from the copy. */
export function quarantine(file: string, now: number, err: unknown): Quarantined {
  const stamp = new Date(now).toISOString().replace(/[:.]/g, '-');
  const target = `${file}.corrupt-${stamp}`;
  renameSync(file, target);
  if (existsSync(`${file}-wal`)) renameSync(`${file}-wal`, `${target}-wal`);
  // the shared-memory index is rebuilt from the WAL by whoever opens the copy
  rmSync(`${file}-shm`, { force: true });
  fsyncDir(dirname(file));
  const reason = isPdmError(err) ? String(err.context['reason']) : String((err as { code?: unknown } | null)?.code ?? 'unreadable');
  return { movedTo: basename(target), reason, salvage: salvage(target) };
}

function salvage(file: string): Salvage {
  let db: Database.Database | undefined;
  const read = <T>(fn: (d: Database.Database) => T): T | undefined => {
    try {
      return fn(db!);
    } catch {
      return undefined;
    }
  };
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const lastSeq = read((d) => Number((d.prepare("SELECT value FROM meta WHERE key = 'last_seq'").get() as { value: unknown }).value));
    const pending = read((d) => (d.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n);
    return { lastSeq: Number.isSafeInteger(lastSeq) ? lastSeq : undefined, pending };
  } catch {
    return { lastSeq: undefined, pending: undefined };
  } finally {
    db?.close();
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Share of its filesystem's free space (plus what it holds already) the outbox may fill. */
const DISK_SHARE = 0.8;
const MAX_WAL_BYTES = 4 * 1024 * 1024;
const MIN_WAL_BYTES = 64 * 1024;

export interface DiskPlan {
  /** Largest the database file may grow (SQLite max_page_count); commits past it get SQLITE_FULL. */
  readonly fileCap: number;
  /** Largest the WAL grows between checkpoints, and what it is cut back to after one. */
  readonly walBytes: number;
}

/**
 * Sizes the outbox to its filesystem at start, so that the database meets its own cap (and evicts by
 * policy) before the disk is full: with the WAL in WAL mode a truly full disk can block both the
 * checkpoint (the database file must grow) and an eviction (the WAL must grow). Other programs can
 * still fill the disk later; the outbox then sheds and counts, and never corrupts (README "Disk full").
 */
export function planDisk(file: string, configuredCap: number | undefined): DiskPlan {
  const size = (f: string): number => (existsSync(f) ? statSync(f).size : 0);
  let budget = Number.POSITIVE_INFINITY;
  try {
    const fs = statfsSync(dirname(file));
    budget = Math.floor(DISK_SHARE * (fs.bavail * fs.bsize + size(file) + size(`${file}-wal`)));
  } catch {
    // a filesystem without statfs: only the configured cap applies
  }
  const walBytes = Math.max(MIN_WAL_BYTES, Math.min(MAX_WAL_BYTES, Math.floor(budget / 4)));
  const fileCap = Math.max(MIN_WAL_BYTES, Math.min(configuredCap ?? Number.POSITIVE_INFINITY, budget - 2 * walBytes));
  return { fileCap, walBytes };
}

export function applyDiskPlan(db: Database.Database, plan: DiskPlan): void {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.pragma(`journal_size_limit = ${plan.walBytes}`);
  db.pragma(`wal_autocheckpoint = ${Math.max(16, Math.floor(plan.walBytes / pageSize))}`);
  if (Number.isFinite(plan.fileCap)) db.pragma(`max_page_count = ${Math.max(1, Math.floor(plan.fileCap / pageSize))}`);
}

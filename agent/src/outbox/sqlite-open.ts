/**
 * Opening the outbox database, and setting a corrupt one aside. A database that SQLite cannot read
 * (not a database, a malformed page, quick_check failing) must not stop the agent from recording new
 * alerts and events: it is renamed with a timestamp, together with its WAL, and the caller starts a
 * fresh one. The old file is kept for a person to look at; what can still be read from it (its last
 * seq and how many records it held) is returned so seqs go on above it and the loss is counted.
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
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

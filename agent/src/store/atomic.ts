/**
 * Crash-safe file writes (RELIABILITY.md, "Atomic activation"): write a temp file beside the target,
 * fsync it, rename it over the target, then fsync the directory so the rename itself is durable. A
 * reader sees the old bytes or the new ones, never a torn mix, after a kill -9 or a power cut at any
 * point. Synchronous on purpose: these files are small and written rarely, and one call is one step.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { z } from 'zod';
import { PdmError, describeIssues } from '@pdm/protocol';

/** Flushes a directory's entries (a rename or a new file in it) to disk. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `file` and flushes it; the file is created or truncated. */
export function writeFileSynced(file: string, data: Uint8Array | string): void {
  const fd = openSync(file, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flushes an existing file's contents to disk. */
export function fsyncFile(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Temp name beside `file`, so the rename stays on one filesystem (rename is atomic only there). */
export function tempNameFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** temp file, fsync, rename over `file`, fsync the directory. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const temp = tempNameFor(file);
  try {
    writeFileSynced(temp, data);
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  fsyncDir(dirname(file));
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Reads a JSON state file and validates it. Returns undefined when the file does not exist; any other
 * problem (unreadable, not JSON, wrong shape) is an error naming the file, never silently ignored.
 */
export function readJsonFile<S extends z.ZodType>(file: string, schema: S, code: 'CONFIG_INVALID' | 'INTERNAL' = 'INTERNAL'): z.output<S> | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PdmError(code, `cannot read ${file}`, { cause: err, context: { file } });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PdmError(code, `${file} is not valid JSON`, { cause: err, context: { file } });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new PdmError(code, `${file}: ${describeIssues(parsed.error)}`, { context: { file } });
  return parsed.data;
}

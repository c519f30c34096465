/**
 * Artifact bytes, content-addressed: `<dir>/<sha256[0:2]>/<sha256>`. A file is written to a temp name,
 * fsynced, renamed into place and the directory fsynced, so a crash leaves either no file or the whole
 * one; the registry records an artifact in the database only after `put` returned. The same bytes
 * published twice are stored once.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PdmError, sha256 } from '@pdm/protocol';
import { syncDir } from './durable-fs.js';

export interface StoredArtifact {
  sha256: string;
  length: number;
}

export class ArtifactStore {
  constructor(readonly dir: string) {}

  pathOf(sha: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new PdmError('REQUEST_INVALID', 'not a sha256', { context: { sha256: sha } });
    return join(this.dir, sha.slice(0, 2), sha);
  }

  put(bytes: Uint8Array): StoredArtifact {
    const sha = sha256(bytes);
    const path = this.pathOf(sha);
    const folder = join(this.dir, sha.slice(0, 2));
    if (existsSync(path) && statSync(path).size === bytes.byteLength) return { sha256: sha, length: bytes.byteLength };
    mkdirSync(folder, { recursive: true });
    const tmp = join(folder, `.tmp-${randomBytes(6).toString('hex')}`);
    try {
      const fd = openSync(tmp, 'w', 0o644);
      try {
        let written = 0;
        while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      syncDir(folder);
    } catch (cause) {
      rmSync(tmp, { force: true });
      throw new PdmError('INTERNAL', 'artifact could not be stored', { cause, context: { sha256: sha } });
    }
    return { sha256: sha, length: bytes.byteLength };
  }

  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  read(sha: string, offset: number, length: number): Buffer {
    const fd = openSync(this.pathOf(sha), 'r');
    try {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }

  /** The size on disk, or undefined when the file is missing. */
  sizeOf(sha: string): number | undefined {
    try {
      return statSync(this.pathOf(sha)).size;
    } catch {
      return undefined;
    }
  }
}

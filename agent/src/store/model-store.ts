/**
 * The model store on disk (`<dataDir>/models/`): version directories written atomically, the pointer
 * file, partial downloads, and pruning of old versions.
 *
 *   models/state.json          the pointer (./pointer.ts): active, previous, shadow, trial
 *   models/pending.json        deployments accepted, not yet installed (updates/deployer.ts)
 *   models/versions/<dir>/     one installed version: its artifacts + manifest.json (the verified bytes)
 *   models/.partial/<sha256>   a download in progress, resumed from its size
 *   models/.tmp/               version directories being written; emptied at start
 *
 * A version directory is built under .tmp (each file fsynced, then the directory), renamed into
 * versions/ and the parent fsynced: it is complete or absent. Its name comes from the model and a
 * digest of the artifact list, so a rollback or a promotion to bytes already here reuses it.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync, createReadStream, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync,
} from 'node:fs';
import { join, sep } from 'node:path';
import type { Logger } from 'pino';
import { PdmError, manifestSchema, type Artifact, type Manifest } from '@pdm/protocol';
import type { CrashHook } from '../updates/faults.js';
import { fsyncDir, fsyncFile, readJsonFile, writeFileSynced, writeJsonAtomic } from './atomic.js';
import { pointerSchema, type Pointer } from './pointer.js';

export const MANIFEST_FILE = 'manifest.json';

export interface ModelStoreDeps {
  /** `<dataDir>/models` */
  readonly dir: string;
  readonly log: Logger;
  readonly crash: CrashHook;
}

export interface InstalledVersion {
  readonly dir: string;
  readonly manifest: Manifest;
}

export class ModelStore {
  constructor(private readonly deps: ModelStoreDeps) {}

  get versionsDir(): string {
    return join(this.deps.dir, 'versions');
  }

  get partialDir(): string {
    return join(this.deps.dir, '.partial');
  }

  private get tmpDir(): string {
    return join(this.deps.dir, '.tmp');
  }

  private get pointerFile(): string {
    return join(this.deps.dir, 'state.json');
  }

  /** Deployments accepted and not yet installed (updates/deployer.ts owns its content). */
  get pendingFile(): string {
    return join(this.deps.dir, 'pending.json');
  }

  /** Creates the layout and removes half-written version directories left by a crash. */
  start(): void {
    for (const d of [this.deps.dir, this.versionsDir, this.partialDir]) mkdirSync(d, { recursive: true });
    rmSync(this.tmpDir, { recursive: true, force: true });
    mkdirSync(this.tmpDir);
  }

  readPointer(): Pointer | undefined {
    return readJsonFile(this.pointerFile, pointerSchema);
  }

  /** The one atomic switch of what runs. */
  writePointer(pointer: Pointer): void {
    writeJsonAtomic(this.pointerFile, pointerSchema.parse(pointer));
  }

  versionPath(dir: string): string {
    return join(this.versionsDir, dir);
  }

  partialPath(sha256: string): string {
    return join(this.partialDir, sha256);
  }

  /** Directory name of a manifest's artifact set: same model and bytes, same directory. */
  dirNameFor(manifest: Manifest): string {
    const list = [...manifest.artifacts].sort((a, b) => a.name.localeCompare(b.name)).map((a) => `${a.name} ${a.sha256} ${a.length}\n`);
    const digest = createHash('sha256').update(list.join('')).digest('hex').slice(0, 12);
    return `${slug(manifest.model.name)}@${slug(manifest.model.version)}-${digest}`;
  }

  /** Installed versions with their manifests; a directory with an unreadable manifest is skipped. */
  versions(): InstalledVersion[] {
    const out: InstalledVersion[] = [];
    for (const dir of readdirSync(this.versionsDir)) {
      try {
        const manifest = readJsonFile(join(this.versionPath(dir), MANIFEST_FILE), manifestSchema);
        if (manifest !== undefined) out.push({ dir, manifest });
      } catch (err) {
        this.deps.log.warn({ err, dir }, 'version directory without a valid manifest');
      }
    }
    return out;
  }

  /** A file already on the device with these bytes (from an installed version), or undefined. */
  findLocal(artifact: Pick<Artifact, 'sha256' | 'length'>): string | undefined {
    for (const v of this.versions()) {
      const a = v.manifest.artifacts.find((x) => x.sha256 === artifact.sha256 && x.length === artifact.length);
      if (a !== undefined && existsSync(join(this.versionPath(v.dir), a.name))) return join(this.versionPath(v.dir), a.name);
    }
    return undefined;
  }

  /** Problems with an installed version directory: missing files, wrong length or hash. */
  async verifyVersion(dir: string, manifest: Manifest): Promise<string[]> {
    const problems: string[] = [];
    for (const a of manifest.artifacts) {
      const file = join(this.versionPath(dir), a.name);
      const actual = await hashFile(file).catch(() => undefined);
      if (actual === undefined) problems.push(`${a.name} is missing`);
      else if (actual.length !== a.length || actual.sha256 !== a.sha256) problems.push(`${a.name} does not match the manifest`);
    }
    return problems;
  }

  /**
   * Writes the version directory of `manifest` from `sources` (artifact name -> a verified file) and
   * returns its name. Files are hard-linked when possible (no extra space; a partial download becomes
   * the installed file) and copied otherwise; every file is hashed again as placed.
   */
  async install(manifest: Manifest, manifestBytes: Buffer, sources: ReadonlyMap<string, string>): Promise<string> {
    const name = this.dirNameFor(manifest);
    const target = this.versionPath(name);
    if (existsSync(target)) {
      const problems = await this.verifyVersion(name, manifest);
      if (problems.length === 0) return name;
      this.deps.log.warn({ dir: name, problems }, 'installed version is damaged; writing it again');
      renameSync(target, join(this.tmpDir, `damaged-${randomBytes(4).toString('hex')}`));
    }
    const temp = join(this.tmpDir, `${name}-${randomBytes(4).toString('hex')}`);
    mkdirSync(temp);
    for (const a of manifest.artifacts) {
      const source = sources.get(a.name);
      if (source === undefined) throw new PdmError('INTERNAL', `no source for artifact ${a.name}`, { context: { artifact: a.name } });
      await this.place(source, join(temp, a.name), a);
    }
    writeFileSynced(join(temp, MANIFEST_FILE), manifestBytes);
    fsyncDir(temp);
    this.deps.crash('after-write');
    renameSync(temp, target);
    fsyncDir(this.versionsDir);
    this.deps.crash('after-rename');
    return name;
  }

  /**
   * Keeps the `keep` newest versions (by release) and every protected one; removes the rest. A
   * directory is renamed away first, so a crash mid-removal never leaves a half-deleted version.
   */
  prune(keep: number, protect: ReadonlySet<string>): string[] {
    const versions = this.versions().sort((a, b) => b.manifest.release - a.manifest.release);
    const kept = new Set(versions.slice(0, keep).map((v) => v.dir));
    const removed: string[] = [];
    for (const v of versions) {
      if (kept.has(v.dir) || protect.has(v.dir)) continue;
      const doomed = join(this.tmpDir, `pruned-${v.dir}`);
      renameSync(this.versionPath(v.dir), doomed);
      rmSync(doomed, { recursive: true, force: true });
      removed.push(v.dir);
    }
    if (removed.length > 0) fsyncDir(this.versionsDir);
    return removed;
  }

  /** Removes partial downloads no deployment is waiting for. */
  dropPartials(keep: ReadonlySet<string>): void {
    for (const name of readdirSync(this.partialDir)) if (!keep.has(name)) rmSync(join(this.partialDir, name), { force: true });
  }

  private async place(source: string, dest: string, artifact: Artifact): Promise<void> {
    const actual = await hashFile(source);
    if (actual.sha256 !== artifact.sha256 || actual.length !== artifact.length) {
      throw new PdmError('INTERNAL', `${artifact.name}: local bytes no longer match the manifest`, { context: { artifact: artifact.name, source } });
    }
    // a hard link only within the store, whose files are never written in place once complete; a file
    // from elsewhere is copied, so nothing outside the store can change an installed version
    const inside = source.startsWith(this.deps.dir + sep);
    try {
      if (!inside) throw new Error('outside the store');
      linkSync(source, dest);
    } catch {
      copyFileSync(source, dest);
    }
    fsyncFile(dest);
  }
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 60);
}

/** sha256 and length of a file, streamed so a large model is not read into memory at once. */
export async function hashFile(file: string): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).byteLength;
  }
  return { sha256: hash.digest('hex'), length };
}

/** Size of a file, 0 when it does not exist. */
export function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}


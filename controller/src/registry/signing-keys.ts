/**
 * The Ed25519 signing key and the public key sets devices trust.
 *
 * The private key is a PKCS#8 PEM file outside the database (config `signingKeyFile`, default
 * `<dataDir>/keys/signing.key`), created at first start with mode 0600. It lives in a private field,
 * is never returned by the API, never logged and never written anywhere else. The public key sets
 * (version, keys with key ids, threshold) are kept in the database, and the current one is written to
 * `<dataDir>/keys/trust.json` for agent configurations (`trust.keySetFile`).
 *
 * Rotation (TUF: a new root signed by the old one): a new key is written to `<key>.next`, the new key
 * set (version + 1) signed by the current key is committed to the database with its audit entry,
 * then `.next` is renamed over the key file. A crash in between is settled at the next start: the
 * `.next` key is kept when the database names it, deleted otherwise. Devices learn the new set through
 * `trust-keys` commands (trust-sync.ts) before anything signed by the new key reaches them.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  KEYSET_PAYLOAD_TYPE, PdmError, keyIdOf, keySetSchema, signEnvelope, type Envelope, type KeySet,
} from '@pdm/protocol';
import type { AuditLog } from '../audit/audit-log.js';
import type { Actor } from '../auth/roles.js';
import { isoTime, type Clock } from '../clock.js';
import { type Database, writeTransaction } from '../db/database.js';
import type { Logger } from '../logger.js';
import { syncDir } from './durable-fs.js';

export const TRUST_FILE = 'trust.json';

export interface SigningKeysOptions {
  dataDir: string;
  signingKeyFile: string;
}

export interface KeySetRecord {
  keySet: KeySet;
  /** The key set signed by the previous set's key; absent for version 1. */
  envelope: Envelope | undefined;
}

interface LoadedKey {
  keyid: string;
  privateKey: KeyObject;
}

export class SigningKeys {
  readonly #options: SigningKeysOptions;
  readonly #database: Database;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #log: Logger;
  #key: LoadedKey | undefined;

  constructor(options: SigningKeysOptions, database: Database, audit: AuditLog, clock: Clock, log: Logger) {
    this.#options = options;
    this.#database = database;
    this.#audit = audit;
    this.#clock = clock;
    this.#log = log;
  }

  get trustFile(): string {
    return join(this.#options.dataDir, 'keys', TRUST_FILE);
  }

  async start(): Promise<void> {
    const file = this.#options.signingKeyFile;
    this.#settleRotation(file);
    let key: LoadedKey;
    if (existsSync(file)) {
      key = readKey(file);
      const mode = statSync(file).mode & 0o777;
      if ((mode & 0o077) !== 0) this.#log.warn({ file, mode: mode.toString(8) }, 'signing key file is readable by others; chmod 600 it');
    } else {
      key = generateKey();
      writeKeyFile(file, key.privateKey);
      this.#log.info({ file, keyid: key.keyid }, 'no signing key: generated one');
    }
    const current = this.#latest();
    if (current === undefined) {
      const keySet = this.#keySetOf(1, key);
      writeTransaction(this.#database.handle, () => {
        this.#insert({ keySet, envelope: undefined });
        this.#audit.record({ actor: { name: 'controller', role: null }, action: 'trust.init', target: { type: 'trust', id: '1' }, detail: { keyids: [key.keyid] } });
      })();
    } else if (!current.keySet.keys.some((k) => k.keyid === key.keyid)) {
      throw new PdmError('CONFIG_INVALID', `signing key ${key.keyid} in ${file} is not in the trusted key set version ${current.keySet.version}`, {
        context: { file, keyid: key.keyid, trusted: current.keySet.keys.map((k) => k.keyid) },
      });
    }
    this.#key = key;
    this.#writeTrustFile();
    this.#log.info({ keyid: key.keyid, keySetVersion: this.keySet().version, trustFile: this.trustFile }, 'signing key loaded');
  }

  async stop(): Promise<void> {
    this.#key = undefined;
  }

  get keyid(): string {
    return this.#loaded().keyid;
  }

  /** The current key set: public keys, key ids, threshold, version. */
  keySet(): KeySet {
    const latest = this.#latest();
    if (latest === undefined) throw new PdmError('INTERNAL', 'no key set: signing keys not started');
    return latest.keySet;
  }

  /** Every key set from `afterVersion` + 1 on, oldest first: what a device trusting `afterVersion` needs. */
  chainAfter(afterVersion: number): KeySetRecord[] {
    const rows = this.#database.handle.prepare('SELECT key_set, envelope FROM key_sets WHERE version > ? ORDER BY version').all(afterVersion) as
      { key_set: string; envelope: string | null }[];
    return rows.map(toRecord);
  }

  sign(payloadType: string, payload: Uint8Array): Envelope {
    return signEnvelope(payloadType, payload, [this.#loaded()]);
  }

  /** A new key; the new key set is signed by the current key. Returns the new set and its envelope. */
  rotate(actor: Actor, reason: string | undefined): KeySetRecord {
    const old = this.#loaded();
    const next = generateKey();
    const file = this.#options.signingKeyFile;
    const nextFile = `${file}.next`;
    const keySet = this.#keySetOf(this.keySet().version + 1, next);
    const envelope = signEnvelope(KEYSET_PAYLOAD_TYPE, Buffer.from(JSON.stringify(keySet), 'utf8'), [old]);
    writeKeyFile(nextFile, next.privateKey);
    writeTransaction(this.#database.handle, () => {
      this.#insert({ keySet, envelope });
      this.#audit.record({
        actor, action: 'trust.rotate', target: { type: 'trust', id: String(keySet.version) }, reason,
        detail: { from: old.keyid, to: next.keyid, version: keySet.version },
      });
    })();
    renameSync(nextFile, file);
    syncDir(dirname(file));
    this.#key = next;
    this.#writeTrustFile();
    this.#log.warn({ from: old.keyid, to: next.keyid, version: keySet.version, by: actor.name }, 'signing key rotated');
    return { keySet, envelope };
  }

  #loaded(): LoadedKey {
    if (this.#key === undefined) throw new PdmError('INTERNAL', 'signing key is not loaded');
    return this.#key;
  }

  #keySetOf(version: number, key: LoadedKey): KeySet {
    const publicKeyPem = createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }).toString();
    return keySetSchema.parse({ schemaVersion: 1, version, threshold: 1, keys: [{ keyid: key.keyid, publicKeyPem }], created: isoTime(this.#clock.now()) });
  }

  #latest(): KeySetRecord | undefined {
    const row = this.#database.handle.prepare('SELECT key_set, envelope FROM key_sets ORDER BY version DESC LIMIT 1').get() as
      { key_set: string; envelope: string | null } | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  #insert(r: KeySetRecord): void {
    this.#database.handle.prepare('INSERT INTO key_sets (version, key_set, envelope, created_at) VALUES (?, ?, ?, ?)')
      .run(r.keySet.version, JSON.stringify(r.keySet), r.envelope === undefined ? null : JSON.stringify(r.envelope), this.#clock.now());
  }

  /** A rotation cut short: keep the new key if its key set was committed, else forget it. */
  #settleRotation(file: string): void {
    const nextFile = `${file}.next`;
    if (!existsSync(nextFile)) return;
    const next = readKey(nextFile);
    const latest = this.#latest();
    if (latest !== undefined && latest.keySet.keys.some((k) => k.keyid === next.keyid)) {
      renameSync(nextFile, file);
      syncDir(dirname(file));
      this.#log.warn({ keyid: next.keyid }, 'finished a key rotation cut short');
    } else {
      rmSync(nextFile);
      this.#log.warn({ keyid: next.keyid }, 'discarded the key of a rotation that was not committed');
    }
  }

  #writeTrustFile(): void {
    const file = this.trustFile;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.keySet(), null, 2)}\n`, { mode: 0o644 });
    renameSync(tmp, file);
  }
}

function toRecord(row: { key_set: string; envelope: string | null }): KeySetRecord {
  return { keySet: keySetSchema.parse(JSON.parse(row.key_set)), envelope: row.envelope === null ? undefined : (JSON.parse(row.envelope) as Envelope) };
}

function generateKey(): LoadedKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyid: keyIdOf(publicKey), privateKey };
}

function readKey(file: string): LoadedKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(file));
  } catch (cause) {
    // the cause may quote the file's bytes: keep it out of the error that gets logged
    throw new PdmError('CONFIG_INVALID', `signing key file ${file} is not a PEM private key`, { context: { file, reason: (cause as NodeJS.ErrnoException).code ?? 'unparsable' } });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new PdmError('CONFIG_INVALID', `signing key file ${file} holds a ${privateKey.asymmetricKeyType ?? 'unknown'} key; pdm signs with Ed25519`, { context: { file } });
  }
  return { keyid: keyIdOf(createPublicKey(privateKey)), privateKey };
}

function writeKeyFile(file: string, key: KeyObject): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeFileSync(fd, key.export({ type: 'pkcs8', format: 'pem' }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDir(dirname(file));
}

/**
 * Helpers shared by the outbox proofs (issue 4): agent configs with outbox settings, reading an agent's
 * outbox file from outside, the controller's view of one device, free ports and polling.
 */
import { createServer, type AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AgentConfigInput } from '@pdm/agent';
import type { DeviceView } from '@pdm/controller';
import { azureAgentConfig, startAgent, writeJson, type AzureAgentOptions, type ControllerHandle } from '../helpers/fleet.js';
import type { Program } from '../helpers/process.js';

export const OUTBOX = 'outbox.sqlite';

/** A port nobody listens on now (for a broker that comes later, or never). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The Azure replay config with the outbox, forwarder, link and inference fields a proof needs. */
export function agentConfig(o: AzureAgentOptions, extra: Partial<AgentConfigInput> = {}): AgentConfigInput {
  const base = azureAgentConfig(o);
  return {
    ...base, ...extra, source: { ...base.source, ...(extra.source ?? {}) } as AgentConfigInput['source'],
    link: { ...base.link, ...extra.link },
  };
}

/** Starts an agent process with `config`, its config file and log in `dir`. */
export function runAgent(dir: string, name: string, config: AgentConfigInput): Program {
  mkdirSync(dir, { recursive: true });
  const file = writeJson(join(dir, `${name}.json`), config);
  return startAgent(name, file, { logFile: join(dir, `${name}.log`) });
}

export interface OutboxFile {
  lastSeq: number;
  depth: number;
  integrity: string;
  dropped: Record<string, number>;
  /** When a commit last stored the resume point (the outbox's meta, state-watch.ts); undefined: none recorded. */
  statesStoredAt: number | undefined;
}

/** Reads an agent's outbox database while the agent is not running (after exit or SIGKILL). */
export function readOutbox(dataDir: string): OutboxFile {
  const db = new Database(join(dataDir, OUTBOX), { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const lastSeq = Number((db.prepare("SELECT value FROM meta WHERE key = 'last_seq'").get() as { value: number }).value);
    const depth = (db.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n;
    const dropped = Object.fromEntries(
      (db.prepare('SELECT reason, count FROM dropped').all() as { reason: string; count: number }[]).map((r) => [r.reason, r.count]),
    );
    // the key is the agent's STATES_STORED_AT (agent/src/outbox/sqlite-schema.ts): the file's format, read as a restart reads it
    const statesStoredAt = db.prepare("SELECT value FROM meta WHERE key = 'states_stored_at'").pluck().get() as number | undefined;
    return { lastSeq, depth, integrity, dropped, statesStoredAt };
  } finally {
    db.close();
  }
}

export interface DeviceDetail {
  device: {
    deviceId: string;
    state: DeviceView['state'];
    lastSeqReported: number | null;
    seq: { contiguous: number; max: number; stored: number; missing: number };
    counters: Record<string, unknown> | null;
    delivery: {
      lastDeliveredSeq: number;
      backlog: { depth: number; bytes: number; byClass: Record<string, number> | null; oldestPending: string | null } | null;
      dropped: { total: number; byReason: Record<string, number> };
      quarantined: { at: string; movedTo: string; reason: string }[];
    };
    restartState: DeviceView['restartState'];
  };
  stored: { records: Record<string, number>; predictionRows: number };
  seqGaps: { gaps: { first: number; last: number }[]; truncated: boolean };
}

export interface IngestTotals {
  stored: number;
  duplicates: number;
  conflicts: number;
}

export const deviceDetail = (c: ControllerHandle, deviceId: string): Promise<DeviceDetail> =>
  c.get<DeviceDetail>(`/api/v1/devices/${deviceId}?predictions=0&alerts=0&events=0&deployments=0`);

/** Polls `probe` until it returns a value, every 100 ms, failing with `what` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A small seeded PRNG (mulberry32), so a failing random run can be repeated with its seed. */
export { seededRandom } from '@pdm/models';

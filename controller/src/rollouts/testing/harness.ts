/**
 * A whole controller in this process (real SQLite, aedes, fastify, onnxruntime for publishing) on a
 * manual clock, with the registry holding the Azure reference model and its variants, for the unit
 * tests of the registry, signing, rollouts and the API. The rollout engine's timer is effectively off:
 * tests call `tick()` after moving the clock; it still runs by itself soon after records arrive.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InjectOptions } from 'fastify';
import { ManualClock } from '../../clock.js';
import type { ControllerConfig } from '../../config.js';
import { startTestController, type TestController } from '../../testing/harness.js';
import { ADMIN_TOKEN_FILE } from '../../auth/tokens.js';
import { SimDevice, type Behaviour } from './sim-device.js';

export const MODEL = 'azure-pdm-failure-24h';
export const artifactsDir = fileURLToPath(new URL(`../../../../models/artifacts/${MODEL}/`, import.meta.url));
export const versions = ['1.0.0', '1.1.0-degraded', '1.2.0-nan', '1.3.0-noisy'] as const;

export function artifactFiles(version: string): { model: Buffer; card: Record<string, unknown> } {
  return {
    model: readFileSync(join(artifactsDir, version, 'model.onnx')),
    card: JSON.parse(readFileSync(join(artifactsDir, version, 'card.json'), 'utf8')) as Record<string, unknown>,
  };
}

export interface RolloutHarness {
  tc: TestController;
  clock: ManualClock;
  adminToken: string;
  devices: Map<string, SimDevice>;
  /** An API call as the admin (or with the given token; null: none). */
  api(method: InjectOptions['method'], url: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
  publish(version: string): Promise<void>;
  addDevice(id: string, opts?: { behaviour?: Behaviour; assetClass?: string; site?: string; connect?: boolean; replyDelayMs?: number }): Promise<SimDevice>;
  tick(): Promise<void>;
  /** Polls `check` (20 ms) until it holds; fails after `ms` with `what`. */
  until(what: string, check: () => boolean | Promise<boolean>, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRolloutHarness(opts: { dataDir?: string; clock?: ManualClock; flags?: Partial<Record<keyof ControllerConfig, string>> } = {}): Promise<RolloutHarness> {
  const clock = opts.clock ?? new ManualClock(Date.now());
  const tc = await startTestController({
    clock, ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
    flags: { heartbeatTimeoutSec: '86400', commandTimeoutMs: '1000', rolloutTickMs: '600000', rolloutResendSec: '5', rolloutResignSec: '60', ...opts.flags },
  });
  // with a tokens file there is no generated admin token; tests then pass their own tokens
  const adminFile = join(tc.config.dataDir, ADMIN_TOKEN_FILE);
  const adminToken = existsSync(adminFile) ? readFileSync(adminFile, 'utf8').trim() : '';
  const devices = new Map<string, SimDevice>();
  const h: RolloutHarness = {
    tc, clock, adminToken, devices,
    async api(method, url, body, token = adminToken) {
      const res = await tc.app.http.app.inject({
        method, url, ...(body === undefined ? {} : { payload: body as object }),
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });
      return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
    },
    async publish(version) {
      const { model, card } = artifactFiles(version);
      await tc.app.fleet.registry.publish({ name: MODEL, version, card, model, actor: { name: 'test', role: 'admin' } });
    },
    async addDevice(id, o = {}) {
      const d = new SimDevice({
        deviceId: id, mqttUrl: tc.mqttUrl, keySet: tc.app.fleet.keys.keySet(), active: { name: MODEL, version: '1.0.0' },
        ...(o.behaviour === undefined ? {} : { behaviour: o.behaviour }), ...(o.assetClass === undefined ? {} : { assetClass: o.assetClass }),
        ...(o.site === undefined ? {} : { site: o.site }), ...(o.replyDelayMs === undefined ? {} : { replyDelayMs: o.replyDelayMs }),
      });
      devices.set(id, d);
      if (o.connect !== false) {
        await d.connect();
        await h.until(`${id} known online`, () => tc.app.fleet.engine.repo !== undefined && isOnline(tc, id));
      }
      return d;
    },
    tick: () => tc.app.fleet.engine.tick(),
    async until(what, check, ms = 8000) {
      const deadline = Date.now() + ms;
      for (;;) {
        await tc.settle();
        if (await check()) return;
        if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      for (const d of devices.values()) if (d.online) await d.disconnect().catch(() => undefined);
      await tc.stop();
    },
  };
  return h;
}

function isOnline(tc: TestController, id: string): boolean {
  const row = tc.app.database.handle.prepare('SELECT state FROM devices WHERE device_id = ?').pluck().get(id);
  return row === 'online';
}

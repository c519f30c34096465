/**
 * The rollout part of the demo, printed step by step as it happens: publish the reference model and
 * roll it out in three stages; publish a worse version, run it in shadow beside the reference, then
 * as a canary in alert mode, where its alert-rate gate fails and the controller rolls it back by itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, type ControllerHandle } from '../test/helpers/fleet.js';

const MODEL = 'azure-pdm-failure-24h';
const artifacts = join(repoRoot, 'models/artifacts', MODEL);

interface StageRecord { stage: number; outcome: string; reason?: string | null }
interface RolloutDetail {
  id: string;
  state: string;
  stage: number;
  stages: number;
  reason: string | null;
  devices: { targeted: number; given: number; rolledBack: number };
  stageHistory: StageRecord[];
  deviceList: { deviceId: string; outcome: string; status: string | null }[];
  evaluation: { stage: number; gates: { gate: string; status: string; value: number | null; threshold: number; samples: number }[] } | null;
}

export interface ScenarioResult {
  rollouts: { id: string; expected: string; state: string }[];
  ok: boolean;
}

export class RolloutScenario {
  private readonly started = Date.now();

  constructor(private readonly controller: ControllerHandle, private readonly token: string, private readonly deviceIds: string[]) {}

  private say(text: string): void {
    console.log(`  [${((Date.now() - this.started) / 1000).toFixed(1).padStart(5)} s] ${text}`);
  }

  private async api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.controller.httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as T & { error?: { code: string; message: string } };
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${json.error?.code}: ${json.error?.message}`);
    return json;
  }

  private async publish(dir: string): Promise<void> {
    const card = JSON.parse(readFileSync(join(artifacts, dir, 'card.json'), 'utf8')) as { version: string; variant: string };
    await this.api('POST', '/api/v1/models', {
      name: MODEL, version: card.version, card, model: readFileSync(join(artifacts, dir, 'model.onnx')).toString('base64'),
      reason: `demo: publish ${dir}`,
    });
    this.say(`published ${MODEL} ${card.version} (${card.variant}) to the registry: ONNX checked against its feature spec, stored by sha256`);
  }

  /** Creates a rollout and prints every change of state, stage and device outcomes until it settles. */
  private async rollout(body: Record<string, unknown>, expected: string): Promise<{ id: string; expected: string; state: string }> {
    const { rollout } = await this.api<{ rollout: RolloutDetail }>('POST', '/api/v1/rollouts', body);
    this.say(`rollout ${rollout.id}: ${String((body['model'] as { version: string }).version)} in ${String(body['mode'])} mode, ${rollout.stages} stage(s): ${String(body['reason'])}`);
    let last = '';
    const deadline = Date.now() + 180_000;
    for (;;) {
      const { rollout: r } = await this.api<{ rollout: RolloutDetail }>('GET', `/api/v1/rollouts/${rollout.id}`);
      const outcomes = new Map<string, number>();
      for (const d of r.deviceList) outcomes.set(d.outcome, (outcomes.get(d.outcome) ?? 0) + 1);
      const line = `state ${r.state}, stage ${r.stage}/${r.stages}, devices given ${r.devices.given}, rolled back ${r.devices.rolledBack}` +
        ` (${[...outcomes].map(([k, n]) => `${n} ${k}`).join(', ')})`;
      if (line !== last) this.say(`  ${rollout.id}: ${line}`);
      last = line;
      if (r.state !== 'running') {
        for (const g of r.evaluation?.gates ?? []) {
          const value = g.value === null ? 'no value' : Number(g.value.toFixed(3));
          this.say(`  ${rollout.id}: stage ${r.evaluation!.stage} gate ${g.gate}: ${value} vs ${g.threshold} over ${g.samples} samples: ${g.status}`);
        }
        for (const s of r.stageHistory) this.say(`  ${rollout.id}: stage ${s.stage} ${s.outcome}${s.reason ? `: ${s.reason}` : ''}`);
        if (r.reason) this.say(`  ${rollout.id}: ${r.state}: ${r.reason}`);
        return { id: r.id, expected, state: r.state };
      }
      if (Date.now() > deadline) return { id: r.id, expected, state: `${r.state} (timed out in the demo)` };
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async run(): Promise<ScenarioResult> {
    console.log('\nRollouts (the replay goes on meanwhile):');
    const gates = { maxFailures: 0, maxInferenceErrorRate: 0.01, minSamples: 20 };
    await this.publish('1.0.0');
    const v1 = await this.rollout({
      id: 'demo-v1', model: { name: MODEL, version: '1.0.0' }, target: { all: true }, mode: 'alert',
      reason: 'demo: the reference model, in three stages',
      stages: [
        { count: 2, soakSeconds: 3, timeoutSeconds: 90, gates },
        { percent: 50, soakSeconds: 3, timeoutSeconds: 90, gates },
        { percent: 100, soakSeconds: 3, timeoutSeconds: 90, gates },
      ],
    }, 'completed');

    await this.publish('1.3.0-noisy');
    const shadowDevices = this.deviceIds.slice(0, 3);
    const shadow = await this.rollout({
      id: 'demo-v2-shadow', model: { name: MODEL, version: '1.3.0-noisy' }, target: { deviceIds: shadowDevices }, mode: 'shadow',
      reason: 'demo: a worse candidate runs beside the reference, never acted on',
      // a lenient agreement gate: the point of the shadow phase here is to measure it
      stages: [{ percent: 100, soakSeconds: 5, timeoutSeconds: 90, gates: { maxFailures: 0, minAgreement: 0.2, minSamples: 20 } }],
    }, 'completed');

    const canary = await this.rollout({
      id: 'demo-v2-canary', model: { name: MODEL, version: '1.3.0-noisy' }, target: { all: true }, mode: 'alert',
      reason: 'demo: canary of the worse candidate in alert mode',
      stages: [
        { count: 2, soakSeconds: 60, timeoutSeconds: 120, gates: { maxFailures: 0, maxAlertRateRatio: 3, minSamples: 40 } },
        { percent: 100, soakSeconds: 5, timeoutSeconds: 120 },
      ],
    }, 'rolled-back');
    const rollouts = [v1, shadow, canary];
    return { rollouts, ok: rollouts.every((r) => r.state === r.expected) };
  }
}
